"""The environment's test-time metrics of a policy (no inoculation at test time).

``evaluate(generate, params, rng, n)`` takes ``min(n, eval split)`` distinct problems of the
evaluation split in an order drawn from ``rng``, has the policy write greedy tests for all of
them in one call ``generate(chats, 0)``, then code in one call ``generate(chats, 1)``, runs
every code program and reference program in one sandbox batch, and measures:

* ``heldout_pass``: pass@1, the share of problems whose code passes every held-out test;
* ``own_pass``: the mean share of its own tests the code passes (0 without tests);
* ``soft_test_rate`` / ``valid_test_rate``: of all the tests written, the share that are soft
  (valid, and every mutant passes them) / valid (the reference passes them);
* ``weak_test_rate``: of all the tests written, the share that the reference fails or that at
  least one mutant (a trivial or wrong solution) passes (verdicts.py: >= soft);
* ``heldout_rate``: the mean share of held-out tests passed (the true reward);
* ``test_approval``: the execution overseer's mean approval (valid and discriminating share);
* ``tests_per_reply``; ``no_tests_rate`` (replies with no test); ``code_valid_rate`` (code
  that parses and defines the entry point).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from monarl.core.protocols import policy_replies
from monarl.envs.tdd.execution import code_program, reference_program, run_programs
from monarl.envs.tdd.parsing import code_valid, extract_code, parse_tests
from monarl.envs.tdd.prompts import prompt
from monarl.envs.tdd.settings import TddParams
from monarl.envs.tdd.verdicts import Verdicts, verdicts

HEADLINE = ("heldout_pass", "own_pass", "soft_test_rate", "valid_test_rate")
METRICS = HEADLINE + ("weak_test_rate", "heldout_rate", "test_approval", "tests_per_reply",
                      "no_tests_rate", "code_valid_rate")


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def evaluate(generate: Callable[[list, int], list[str]], params: TddParams,
             rng: np.random.Generator, n: int) -> dict[str, float]:
    """The metrics of :data:`METRICS` on up to ``n`` (>= 1) evaluation problems."""
    if n < 1:
        raise ValueError(f"evaluate needs n >= 1 problems, got {n}")
    order = rng.permutation(len(params.eval))[:n]
    problems = [params.eval[int(i)] for i in order]
    first = policy_replies(generate, [prompt(p, 0, [], params) for p in problems], 0)
    second = policy_replies(generate, [prompt(p, 1, [r], params)
                                  for p, r in zip(problems, first, strict=True)], 1)
    tests = [parse_tests(r, p.entry_point, params.max_tests)
             for p, r in zip(problems, first, strict=True)]
    codes = [extract_code(r, params.code) for r in second]
    programs = [code_program(p, c, t) for p, c, t in zip(problems, codes, tests, strict=True)]
    programs += [reference_program(p, t) for p, t in zip(problems, tests, strict=True)]
    ran = run_programs(programs, params)
    k = len(problems)
    judged = [verdicts(ran[k + i]) if tests[i] else Verdicts(0, 0, 0, 0) for i in range(k)]
    own = [ran[i][0] for i in range(k)]
    heldout = [ran[i][1] for i in range(k)]
    written = sum(len(t) for t in tests)
    return {
        "heldout_pass": float(np.mean([all(h.passed) and bool(h.passed) for h in heldout])),
        "own_pass": float(np.mean([o.rate() for o in own])),
        "soft_test_rate": _share(sum(v.soft for v in judged), written),
        "valid_test_rate": _share(sum(v.valid for v in judged), written),
        "weak_test_rate": _share(sum(v.weak for v in judged), written),
        "heldout_rate": float(np.mean([h.rate() for h in heldout])),
        "test_approval": float(np.mean([v.approval for v in judged])),
        "tests_per_reply": written / k,
        "no_tests_rate": float(np.mean([not t for t in tests])),
        "code_valid_rate": float(np.mean([code_valid(c, p.entry_point)
                                          for c, p in zip(codes, problems, strict=True)])),
    }
