"""The exact solver as a trainer: finite-horizon value iteration with optimization horizon M
(``tabular/value_iteration.py``), exact evaluation over every start state.

It needs the environment's tables and an approval with a table face; every horizon of a run
batch is solved in one scan (``batch_fields`` include the horizon).
"""

from __future__ import annotations

import dataclasses

from monarl.core.config import REWARDS, ConfigError, check_choice, check_reward, setting
from monarl.core.protocols import TrainerSpec
from monarl.tabular.value_iteration import TIE_BREAKS, WINDOWS


@dataclasses.dataclass(frozen=True)
class ExactSettings:
    """Settings of the exact solver (``monarl solve`` options of the same names)."""

    reward: str = setting("observed", "Reward trained on without an approval (an approval is the "
                                      "whole training reward).", choices=REWARDS)
    tie_break: str = setting(
        "random", "Among equally good actions: random = seeded random choice among exactly "
                  "equal Q (the public code's rule); random-near = also within 1e-9; first = "
                  "the first action within 1e-9.", choices=TIE_BREAKS)
    window: str = setting(
        "optimal", "optimal: each step plans its M-step window optimally (public code); "
                   "policy: later window steps follow the policy itself.", choices=WINDOWS)

    def validate(self, section: str = "exact") -> None:
        for name, allowed in (("reward", REWARDS), ("tie_break", TIE_BREAKS),
                              ("window", WINDOWS)):
            check_choice(section, name, getattr(self, name), allowed)


def _check(run, prefix: str) -> None:
    try:
        check_reward(run.settings.reward, run.approval.kind)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}.exact.{exc}" if prefix else f"exact.{exc}") from None


def _headline(env) -> tuple[str, ...]:
    return (*env.outcomes, "observed_return", "true_return", "episode_length")


SPEC = TrainerSpec(
    name="exact",
    summary="Exact finite-horizon solver with horizon M (monarl solve).",
    section="exact",
    settings=ExactSettings,
    runner="monarl.algos.exact.runner:run",
    requires=frozenset({"tables"}),
    batch_fields=("seed", "horizon"),
    light=True,
    check=_check,
    semantics=2,
    headline=_headline,
)
