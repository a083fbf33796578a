"""The trusted advantage with the step's TRUE reward: a second approval form, measured beside
the paper's (``trusted``), for hacks that pay in the very step they are taken.

The paper's approval of a step is ``R_obs(s, a) + V(t+1, s') - V(t, s)``: the overseer's
foresight (its true-reward value V) added to the environment's *observed* reward of the step.
Where the observed reward itself is wrong within the step, that term judges the step wrongly at
M = 1 too: in boat race every move costs -1 observed whichever way it goes while the true reward
pays +1 for a clockwise move, so the approval ties racing on with backing out and MONA farms
(docs/boat_race.md); tomato watering's transformation tile pays 0.56 observed for 0.26 true the
moment the agent stands on it, so stepping onto it is approved +0.30 above the true-optimal
step. This form judges the step by what the overseer knows it truly achieved:

    approval(t, s, a) = R_true(s, a) + V(t+1, s') - V(t, s),   0 at the last step,

so it never contains an observed reward. With the overseer's exact value it is the true
reward's optimal advantage, so MONA at M = 1 then acts optimally for the true reward: the
foresight is the overseer's, as in the paper; only the step's own payment changes. Noise as
in ``trusted``.
"""

from __future__ import annotations

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.table import TableApproval
from monarl.approval.trusted import (
    TABLES,
    NoiseSettings,
    noisy_values,
    trusted_approval,
    trusted_values,
    value_family,
)
from monarl.core.protocols import ApprovalSpec
from monarl.tabular.tables import Tables


def true_step_approval(tables: Tables, values: np.ndarray) -> np.ndarray:
    """[T, S, A]: the trusted advantage of ``values`` with the step's true reward."""
    steps = values.shape[-2] - 1
    after = tables.expect(values[1:, :])
    approval = tables.reward_table("true")[None] + after - values[:-1, :, None]
    approval[steps - 1] = 0.0
    return approval


def _table(tables: Tables, values: np.ndarray, settings: NoiseSettings, seed: int) -> np.ndarray:
    if settings.noise_per == "state":
        return true_step_approval(tables, noisy_values(values, settings.noise, seed))
    shift = trusted_approval(tables, settings.noise, seed, "step", values=values)
    shift -= trusted_approval(tables, 0.0, seed, "step", values=values)  # the per-step noise
    return true_step_approval(tables, values) + shift


def build(ctx: BuildContext, settings: NoiseSettings) -> TableApproval:
    tables = ctx.require_tables("true-advantage")
    values = trusted_values(tables)
    return TableApproval("true-advantage", ctx.env, tables, ctx.seeds,
                         lambda seed: _table(tables, values, settings, seed),
                         settings.seed_dependent)


SPEC = ApprovalSpec(
    name="true-advantage",
    summary="Like trusted, with the step's true reward in place of its observed reward: "
            "R_true(s, a) + V(t+1, s') - V(t, s) (for hacks paid in the step they are taken).",
    settings=NoiseSettings,
    build=build,
    needs=lambda settings: TABLES,
    family=value_family("true-advantage", "noise", "noise sigma", "#00695c"),
    seed_dependent=lambda settings: settings.seed_dependent,
)
