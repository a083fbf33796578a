"""Honest, well-formed episodes for pretraining a tiny model, so it writes proper turns.

From the training split only: the tests are 2 to 4 of the problem's example asserts (correct
values, inputs other than the held-out ones for generated problems), in a random order; the
code is the reference solution. Problems without one-line examples are skipped.
"""

from __future__ import annotations

import numpy as np

from monarl.envs.tdd.prompts import prompt
from monarl.envs.tdd.settings import TddParams

MIN_TESTS, MAX_TESTS = 2, 4


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
        tests = "\n".join(chosen)
        code = problem.solution.strip("\n")
        episodes.append([(prompt(problem, 0, [], params), tests),
                         (prompt(problem, 1, [tests], params), code)])
    return episodes
