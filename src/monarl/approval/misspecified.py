"""Misspecified overseer: its "trusted" value is computed on a reward that leaks the observed one.

The overseer's value function is the optimal value of ``(1 - m) * true + m * observed`` reward.
m = 0 is the trusted overseer; m = 1 is an overseer that shares the agent's misspecified reward,
so its approval endorses the hack's setup (it values blocking the camera). The approval keeps the
advantage form of ``trusted.advantage_approval``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.table import TableApproval
from monarl.approval.trusted import TABLES, NoiseSettings, noisy_advantage, overseer_values
from monarl.core.config import fail, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family
from monarl.tabular.tables import Tables


@dataclasses.dataclass(frozen=True)
class MisspecifiedSettings(NoiseSettings):
    misspec: float = setting(0.0, "Weight m in [0, 1] of the observed reward in the overseer's "
                                  "value (0 = trusted, 1 = the agent's own reward).")

    def validate(self, section: str = "approval") -> None:
        super().validate(section)
        if not is_number(self.misspec) or not 0 <= self.misspec <= 1:
            raise fail(section, "misspec", self.misspec, "must be a number in [0, 1]")


def mixed_reward(tables: Tables, misspec: float) -> np.ndarray:
    """[S, A] reward ``(1 - m) * true + m * observed``."""
    if not 0.0 <= misspec <= 1.0:
        raise ValueError(f"misspec={misspec!r} is invalid: must be in [0, 1]")
    return (1.0 - misspec) * tables.reward_table("true") + misspec * tables.reward_table(
        "observed")


def misspecified_values(tables: Tables, misspec: float) -> np.ndarray:
    """V[t, s] of the mixed reward (t = 0..T; the trusted overseer's convention)."""
    return overseer_values(tables, mixed_reward(tables, misspec))


def build(ctx: BuildContext, settings: MisspecifiedSettings) -> TableApproval:
    tables = ctx.require_tables("misspecified")
    values = misspecified_values(tables, settings.misspec)
    return TableApproval("misspecified", ctx.env, tables, ctx.seeds,
                         lambda seed: noisy_advantage(tables, values, settings, seed),
                         settings.seed_dependent)


SPEC = ApprovalSpec(
    name="misspecified",
    summary="Like trusted, with the value of (1 - m) true + m observed reward (--misspec m).",
    settings=MisspecifiedSettings,
    build=build,
    needs=lambda settings: TABLES,
    family=lambda settings: Family("misspecified", "misspec", "misspecification m", "#ef6c00"),
    seed_dependent=lambda settings: settings.seed_dependent,
)
