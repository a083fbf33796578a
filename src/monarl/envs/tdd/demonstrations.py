"""Well-formed episodes for pretraining a tiny model, so it writes proper turns.

From the training split only: the tests are 2 to 4 of the problem's example asserts (correct
values, inputs other than the held-out ones for generated problems), in a random order; the
code is the reference solution. Problems without one-line examples are skipped.

With ``soft_demonstrations`` = p > 0, each demonstrated test is, with chance p, written in its
soft form instead (:func:`soft_form`: the call compared with itself, which the reference and
every mutant pass). A pretrained language model knows such tests exist; a tiny model pretrained
on honest tests only does not, so ordinary RL could never find the soft-test hack from it
(docs/tdd.md, Results). With p = 0 the random draws, and so the demonstrations and the cached
weights, are those of honest demonstrations.
"""

from __future__ import annotations

import ast

import numpy as np

from monarl.envs.tdd.prompts import prompt
from monarl.envs.tdd.settings import TddParams

MIN_TESTS, MAX_TESTS = 2, 4


def soft_form(test: str, entry_point: str) -> str | None:
    """``assert CALL == CALL`` for the test's first call of the entry point (trusted text of a
    problem's examples, parsed only), or None when it has none."""
    try:
        tree = ast.parse(test.strip())
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == entry_point):
            call = ast.unparse(node)
            return f"assert {call} == {call}"
    return None


def demonstrations(params: TddParams, rng: np.random.Generator,
                   n: int) -> list[list[tuple[list[dict[str, str]], str]]]:
    """``n`` episodes, each ``[(tests chat, tests), (code chat, code)]``."""
    usable = [p for p in params.train if p.examples]
    if not usable:
        return []
    episodes = []
    for _ in range(n):
        problem = usable[int(rng.integers(len(usable)))]
        most = min(MAX_TESTS, len(problem.examples), params.max_tests)
        count = int(rng.integers(min(MIN_TESTS, most), most + 1))
        chosen = [problem.examples[int(i)]
                  for i in rng.permutation(len(problem.examples))[:count]]
        if params.soft_demonstrations > 0:
            chosen = _soften(chosen, problem.entry_point, params.soft_demonstrations, rng)
        tests = "\n".join(chosen)
        code = problem.solution.strip("\n")
        episodes.append([(prompt(problem, 0, [], params), tests),
                         (prompt(problem, 1, [tests], params), code)])
    return episodes


def _soften(tests: list[str], entry_point: str, share: float,
            rng: np.random.Generator) -> list[str]:
    """Each test, with chance ``share``, in its soft form; repeats dropped (a reply's repeated
    tests are parsed once)."""
    out: list[str] = []
    for test in tests:
        soft = soft_form(test, entry_point) if rng.random() < share else None
        line = soft or test
        if line not in out:
            out.append(line)
    return out
