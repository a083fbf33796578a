"""What the reference and the mutants say of a set of tests: each test is invalid (the
reference fails it), soft (valid, and every mutant passes it) or discriminating (valid, and
some mutant fails it). The execution overseer approves the discriminating share.
"""

from __future__ import annotations

import dataclasses

from monarl.envs.tdd.execution import Outcome


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """Counts over one reply's tests."""

    tests: int
    valid: int
    soft: int
    discriminating: int

    @property
    def approval(self) -> float:
        """The share of tests that are valid and discriminating (0 without tests)."""
        return self.discriminating / self.tests if self.tests else 0.0


def verdicts(outcomes: tuple[Outcome, ...]) -> Verdicts:
    """Verdicts from a reference program's outcomes (the reference first, then the
    mutants)."""
    reference, *mutants = outcomes
    count = len(reference.passed)
    valid = [reference.passed[i] for i in range(count)]
    caught = [any(not m.passed[i] for m in mutants) for i in range(count)]
    return Verdicts(tests=count, valid=sum(valid),
                    soft=sum(v and not c for v, c in zip(valid, caught, strict=True)),
                    discriminating=sum(v and c for v, c in zip(valid, caught, strict=True)))
