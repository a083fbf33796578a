"""A short-sighted overseer: a complete monarl approval in one file (docs/extending.md).

Like the built-in ``trusted`` approval it judges a step by its advantage under the overseer's
value of the true reward, but the overseer discounts the future by ``gamma`` per step:

    approval(t, s, a) = R_obs(s, a) + gamma * E V(t+1, s') - V(t, s),   0 at the last step,

with V the optimal discounted true value. ``gamma = 1`` is ``trusted``; smaller gammas model an
overseer who can foresee less, the question being how little foresight MONA still needs. Use
it as ``--approval discounted_overseer:SPEC --set gamma=0.5``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monarl.approval.table import TableApproval
from monarl.core.config import fail, setting
from monarl.core.protocols import ApprovalSpec, Family, Need


@dataclasses.dataclass(frozen=True)
class Settings:
    gamma: float = setting(0.9, "The overseer's discount per step (1: the trusted approval).")

    def validate(self, section: str = "approval") -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise fail(section, "gamma", self.gamma, "must be a number in [0, 1]")


def approval_table(tables, gamma: float) -> np.ndarray:
    """[T, S, A] approval of a tables environment (see the module docstring)."""
    steps, true = tables.max_steps, tables.reward_table("true")
    values = np.zeros((steps + 1, tables.num_states))  # V[T-1] = V[T] = 0, like trusted's
    for t in range(steps - 2, -1, -1):
        values[t] = (true + gamma * tables.expect(values[t + 1])).max(axis=-1)
    after = tables.expect(values[1:])  # [T, S, A]
    approval = tables.reward_table("observed")[None] + gamma * after - values[:-1, :, None]
    approval[steps - 1] = 0.0
    return approval


def build(ctx, settings: Settings) -> TableApproval:
    tables = ctx.require_tables("discounted-trusted")
    return TableApproval("discounted-trusted", ctx.env, tables, ctx.seeds,
                         lambda seed: approval_table(tables, settings.gamma),
                         seed_dependent=False)


SPEC = ApprovalSpec(
    name="discounted-trusted",
    summary="The trusted advantage approval of an overseer who discounts by gamma.",
    settings=Settings,
    build=build,
    needs=lambda settings: {"tables": Need("kind", "is a [T, S, A] table of the states")},
    family=lambda settings: Family("discounted-trusted", "gamma", "overseer discount gamma",
                                   "#6a1b9a"),
)
