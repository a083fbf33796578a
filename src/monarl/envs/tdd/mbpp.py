"""A local JSONL file in MBPP's format (docs/tdd.md): one JSON object per line with ``text``
(the task in words), ``code`` (the reference solution), ``test_list`` (assert statements) and
``task_id``; ``test_setup_code`` is honoured where present.

The entry point is the code's first top-level ``def`` (found with ``ast.parse``: nothing is
run). The model sees ``def NAME(ARGS):`` with the text as its docstring. The held-out tests are
``test_list``, one test per assert; they are also the demonstration examples. The mutants are
generic (:func:`monarl.envs.tdd.problem.generic_mutants`).

Split: MBPP's own test split, task ids 11-510, evaluates (500 problems in the full data set,
the paper's evaluation size); every other task trains. A file with no task in one of those
ranges is split by position instead: every 4th problem (position 3, 7, ...) evaluates; a file
of fewer than 4 problems trains and evaluates on all of them (for trying the loader only).

:func:`load` refuses a file that is not in this format with a one-line ``ConfigError`` naming
the line and the field, so a bad ``problems`` setting fails when the settings are validated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monarl.core.config import ConfigError, fail, is_int
from monarl.envs.tdd.problem import Problem, first_function, generic_mutants, signature

FIELDS = ("text", "code", "test_list", "task_id")
FORMAT = "MBPP format: one JSON object per line with text, code, test_list, task_id"
EVAL_IDS = (11, 510)
"""MBPP's test split (task ids, inclusive)."""


def _refuse(section: str, name: str, value: Any, why: str) -> ConfigError:
    return fail(section, name, value, f"{why} ({FORMAT})")


def _row(data: Any, number: int, section: str, name: str, value: Any) -> dict:
    where = f"line {number}"
    if not isinstance(data, dict):
        raise _refuse(section, name, value, f"{where} is not a JSON object")
    for field in FIELDS:
        if field not in data:
            raise _refuse(section, name, value, f"{where} has no field {field!r}")
    if not isinstance(data["text"], str) or not isinstance(data["code"], str):
        raise _refuse(section, name, value, f"{where}: fields 'text' and 'code' must be text")
    tests = data["test_list"]
    if (not isinstance(tests, list) or not tests
            or not all(isinstance(t, str) and t.strip() for t in tests)):
        raise _refuse(section, name, value, f"{where}: field 'test_list' must be a non-empty "
                                            "list of assert statements")
    if not is_int(data["task_id"]):
        raise _refuse(section, name, value, f"{where}: field 'task_id' must be an integer")
    if first_function(data["code"]) is None:
        raise _refuse(section, name, value, f"{where}: field 'code' has no top-level def "
                                            "(the entry point)")
    return data


def problem(row: dict) -> Problem:
    code = row["code"].replace("\r\n", "\n")
    node = first_function(code)
    assert node is not None  # checked by _row
    text = " ".join(str(row["text"]).split()).replace('"""', "'''")
    head = f'{signature(node)}\n    """{text}"""\n'
    setup = str(row.get("test_setup_code") or "")
    tests = tuple(f"{setup}\n{t}" if setup.strip() else t for t in row["test_list"])
    return Problem(
        task_id=f"mbpp/{row['task_id']}", source="mbpp", prompt=head, entry_point=node.name,
        preamble="", reference=code, solution=code, tests=tests,
        examples=tuple(t.strip() for t in row["test_list"] if "\n" not in t.strip()),
        mutants=generic_mutants(head, node, code))


def load(path: str | Path, section: str = "env", name: str = "problems") -> tuple[Problem, ...]:
    """Every problem of the file; ``ConfigError`` (``section.name=path is invalid: ...``) when
    it is missing, empty or not in MBPP's format."""
    file = Path(path)
    if not file.is_file():
        raise fail(section, name, str(path), "must be generated, humaneval, mbpp or the path "
                                             "of a JSONL file in MBPP's format; no such file")
    rows = []
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _refuse(section, name, str(path), f"cannot be read ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError:
            raise _refuse(section, name, str(path), f"line {number} is not JSON") from None
    return _problems(rows, str(path), "the file", section, name)


def from_rows(rows: list[Any], value: str, section: str = "env",
              name: str = "problems") -> tuple[Problem, ...]:
    """The problems of rows already read (e.g. the hub dataset's), checked as a file's lines
    are (row ``n`` is reported as line ``n``)."""
    return _problems(list(enumerate(rows, 1)), value, "the data set", section, name)


def _problems(numbered: list[tuple[int, Any]], value: str, source: str, section: str,
              name: str) -> tuple[Problem, ...]:
    """Every numbered row checked (:func:`_row`), then made a problem; none is refused."""
    checked = [_row(data, number, section, name, value) for number, data in numbered]
    if not checked:
        raise _refuse(section, name, value, f"{source} has no problems")
    return tuple(problem(row) for row in checked)


def split(problems: tuple[Problem, ...]) -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
    """(train, eval) by MBPP's test split, or by position (see the module docstring)."""
    def in_test(p: Problem) -> bool:
        return EVAL_IDS[0] <= int(p.task_id.split("/", 1)[1]) <= EVAL_IDS[1]
    train = tuple(p for p in problems if not in_test(p))
    test = tuple(p for p in problems if in_test(p))
    if train and test:
        return train, test
    if len(problems) < 4:
        return problems, problems
    return (tuple(p for i, p in enumerate(problems) if i % 4 != 3),
            tuple(p for i, p in enumerate(problems) if i % 4 == 3))
