"""What the two overseer approvals share: an overseer that first learns by RL on the *true*
reward (which pays the task and punishes the hack, so it has no hack to learn), trained by the
trainer for ``overseer_steps`` environment steps per seed before the MONA run starts.

``trusted-critic`` judges a step with that overseer's critic; ``continuation-rollout`` runs its
greedy policy on from the state the step enters. Neither needs tables, so MONA runs on
environments of any size with them.
"""

from __future__ import annotations

import dataclasses

from monarl.core.config import check_choice, fail, is_int, setting
from monarl.core.protocols import Need

START_TIMES = ("zero", "uniform")
"""When the overseer's training episodes start: t = 0, or a uniformly drawn step."""
QUALITY_MAX_STATES = 200_000
"""Largest environment (in states) on which an overseer approval is also tabulated to measure
its quality against the exact one: that costs a forward pass per (t, s)."""


@dataclasses.dataclass(frozen=True)
class OverseerSettings:
    overseer_steps: int = setting(
        1_000_000, "Environment steps per seed of the overseer's own RL run on the true reward "
                   "(not counted in the run's budget).")
    overseer_start_time: str = setting(
        "zero", "The overseer's training episodes start at t = 0 (zero) or at a uniformly drawn "
                "step (uniform), so its critic also learns late time steps.",
        choices=START_TIMES, option="--overseer-start")

    def validate(self, section: str = "approval") -> None:
        check_choice(section, "overseer_start_time", self.overseer_start_time, START_TIMES)
        if not is_int(self.overseer_steps) or self.overseer_steps < 1:
            raise fail(section, "overseer_steps", self.overseer_steps,
                       "the overseer's PPO budget must be an integer >= 1 environment steps")


def needs(kind: str, exact: str) -> dict[str, Need]:
    return {"overseer": Need(
        "kind", f"approval {kind!r} learns its overseer with a PPO run on the true reward, so "
                f"it exists only in PPO (algo 'ppo' / monarl train); the exact solver's "
                f"{exact!r} uses the exact overseer")}
