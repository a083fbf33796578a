"""The execution overseer of turn 0: it runs the model's tests against the reference solution
(which the model never sees) and against the mutants, and approves the share of tests that are
valid and discriminating (:mod:`monarl.envs.tdd.verdicts`). It reads the problem and the tests
only, never turn 1's code: its program is the reference program, which holds no model code
but the tests.
"""

from __future__ import annotations

from monarl.envs.tdd.execution import reference_program, run_programs
from monarl.envs.tdd.parsing import parse_tests
from monarl.envs.tdd.problem import Problem
from monarl.envs.tdd.settings import TddParams
from monarl.envs.tdd.verdicts import Verdicts, verdicts


def reply_verdicts(case: Problem, reply: str, params: TddParams) -> Verdicts:
    """The verdicts on a turn-0 reply's tests (one sandboxed program, or none when it was
    run before)."""
    tests = parse_tests(reply, case.entry_point, params.max_tests)
    if not tests:
        return Verdicts(0, 0, 0, 0)
    return verdicts(run_programs([reference_program(case, tests)], params)[0])


def overseer(case: Problem, turn: int, reply: str, params: TddParams) -> float | None:
    """The approval of turn 0 (valid and discriminating share of its tests, in [0, 1]); it
    does not judge the code (None)."""
    if turn != 0:
        return None
    return reply_verdicts(case, reply, params).approval
