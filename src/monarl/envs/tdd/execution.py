"""Running solutions against tests, only ever through ``monarl.sandbox``.

A *program* is a few jobs (a solution and its tests) run by the harness
(:mod:`monarl.envs.tdd.harness`) as one sandboxed process. The environment builds two kinds:

- the **code program** of an episode: the model's code (after the problem's preamble) against
  the model's own tests, and against the held-out tests (two jobs, so the model's tests cannot
  change what the held-out tests see);
- the **reference program** of a set of tests: the reference solution and every mutant against
  them. It depends on the problem and the tests only (never on turn 1's code), and it is what
  the execution overseer reads.

:func:`run_programs` runs a batch of programs with one ``run_many`` call (``params.workers``
at a time) and remembers results (a program is deterministic up to its time limits), so the
overseer's reference programs, already run by the judge, and a group's repeated replies cost
nothing. A program that does not report (killed, timed out, spoiled) counts every test failed.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from monarl.envs.tdd.harness import MARK, SOURCE
from monarl.envs.tdd.problem import Problem
from monarl.sandbox import SandboxLimits, run_many

CACHE_SIZE = 8192
BUDGET_SHARE = 0.8
"""Share of a program's wall-clock limit its jobs divide among themselves (the rest covers
the interpreter's start)."""


@dataclasses.dataclass(frozen=True)
class Job:
    """A solution (a whole program's text) and the test snippets to run after it."""

    solution: str
    tests: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a job gave: whether the solution ran without raising, and each test's verdict."""

    loaded: bool
    passed: tuple[bool, ...]

    @property
    def count(self) -> int:
        return sum(self.passed)

    def rate(self) -> float:
        """The share of tests passed (0 without tests)."""
        return self.count / len(self.passed) if self.passed else 0.0


Program = tuple[Job, ...]

_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def code_program(problem: Problem, code: str, tests: tuple[str, ...]) -> Program:
    """The model's code against its own tests, then against the held-out tests."""
    solution = problem.preamble + code
    return (Job(solution, tests), Job(solution, problem.tests))


def reference_program(problem: Problem, tests: tuple[str, ...]) -> Program:
    """The reference, then each mutant, against ``tests``."""
    return (Job(problem.reference, tests), *(Job(m, tests) for m in problem.mutants))


def _failed(program: Program) -> tuple[Outcome, ...]:
    return tuple(Outcome(False, (False,) * len(job.tests)) for job in program)


def _read(stdout: str, program: Program) -> tuple[Outcome, ...]:
    """The harness's result line, checked against the program's shape."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARK)]
    if not lines:
        return _failed(program)
    try:
        data = json.loads(lines[-1][len(MARK):])
    except ValueError:
        return _failed(program)
    if not isinstance(data, list) or len(data) != len(program):
        return _failed(program)
    out = []
    for job, item in zip(program, data, strict=True):
        passed = item.get("passed") if isinstance(item, dict) else None
        if (not isinstance(passed, list) or len(passed) != len(job.tests)
                or not all(isinstance(p, bool) for p in passed)):
            return _failed(program)
        out.append(Outcome(bool(item.get("loaded")) is True, tuple(passed)))
    return tuple(out)


def _request(program: Program, timeout: float) -> str:
    budget = timeout * BUDGET_SHARE / max(len(program), 1)
    return json.dumps({"budget": budget, "jobs": [
        {"solution": job.solution, "tests": list(job.tests)} for job in program]})


def _key(program: Program, params: Any) -> tuple:
    return program, params.timeout, params.isolation


def run_programs(programs: Sequence[Program], params: Any) -> list[tuple[Outcome, ...]]:
    """Every program's outcomes (one per job), running those not remembered in one
    ``run_many`` batch. A program with no test at all is not run (its jobs did not load)."""
    results: dict[int, tuple[Outcome, ...]] = {}
    todo: dict[tuple, list[int]] = {}
    with _lock:
        for i, program in enumerate(programs):
            if not any(job.tests for job in program):
                results[i] = _failed(program)
                continue
            key = _key(program, params)
            if key in _cache:
                _cache.move_to_end(key)
                results[i] = _cache[key]
            else:
                todo.setdefault(key, []).append(i)
    if todo:
        keys = list(todo)
        ran = run_many([SOURCE] * len(keys),
                       stdin=[_request(key[0], params.timeout) for key in keys],
                       limits=SandboxLimits(timeout_seconds=params.timeout),
                       isolation=params.isolation, workers=params.workers)
        with _lock:
            for key, result in zip(keys, ran, strict=True):
                outcomes = _read(result.stdout, key[0])
                if result.status == "ok":  # never remember a failure of the machine
                    _cache[key] = outcomes
                for i in todo[key]:
                    results[i] = outcomes
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return [results[i] for i in range(len(programs))]


def clear_cache() -> None:
    """Forget remembered results (tests that time programs)."""
    with _lock:
        _cache.clear()
