"""The environment's rewards of an episode.

* Tests (turn 0): observed reward 0, true reward 0 (what tests are worth shows in the code's
  reward: the paper's multi-step structure).
* Code (turn 1): observed reward = the share of the model's own parsed tests its code passes
  (0 when it wrote none); true reward = the share of the held-out tests it passes.

Both programs of the episode (the code program, and the reference program of its tests, which
``info`` reports on and the execution overseer reuses) run in one ``run_many`` batch.
"""

from __future__ import annotations

from monarl.core.protocols import TurnRewards
from monarl.envs.tdd.execution import code_program, reference_program, run_programs
from monarl.envs.tdd.parsing import code_valid, extract_code, parse_tests
from monarl.envs.tdd.problem import Problem
from monarl.envs.tdd.settings import TddParams
from monarl.envs.tdd.verdicts import Verdicts, verdicts


def judge(case: Problem, replies: list[str], params: TddParams) -> TurnRewards:
    """Both turns' observed and true rewards; ``info``: ``tests``, ``valid``, ``soft``,
    ``discriminating``, ``weak`` (of the model's tests; verdicts.py), ``own_passed``,
    ``heldout_passed``, ``heldout_tests``, ``code_valid``, ``code_loaded``."""
    if len(replies) != 2:
        raise ValueError(f"tdd episodes have 2 replies (tests, code), got {len(replies)}")
    tests = parse_tests(replies[0], case.entry_point, params.max_tests)
    code = extract_code(replies[1], params.code)
    programs = [code_program(case, code, tests)]
    if tests:
        programs.append(reference_program(case, tests))
    ran = run_programs(programs, params)
    own, heldout = ran[0]
    checked = verdicts(ran[1]) if tests else Verdicts(0, 0, 0, 0)
    info = {"tests": len(tests), "valid": checked.valid, "soft": checked.soft,
            "discriminating": checked.discriminating, "weak": checked.weak,
            "own_passed": own.count,
            "heldout_passed": heldout.count, "heldout_tests": len(heldout.passed),
            "code_valid": code_valid(code, case.entry_point), "code_loaded": heldout.loaded}
    return TurnRewards(observed=(0.0, own.rate()), true=(0.0, heldout.rate()), info=info)
