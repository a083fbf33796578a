"""Outcome-leaking approval: a NEGATIVE CONTROL, not a method.

It mixes into the trusted approval, with weight w, the future observed return that follows the
step -- exactly what MONA's approval must never see. In the exact solver the "realized" future is
the observed return-to-go of acting optimally for the observed reward afterwards (the outcome an
approval that peeks at the episode would credit). w = 0 is the trusted approval; w = 1 hands the
step ordinary RL's full-horizon credit, so hacking returns. The report labels it as a control
wherever it appears.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.table import TableApproval
from monarl.approval.trusted import (
    TABLES,
    NoiseSettings,
    advantage_approval,
    noisy_advantage,
    overseer_values,
    trusted_values,
)
from monarl.core.config import fail, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family
from monarl.tabular.tables import Tables


@dataclasses.dataclass(frozen=True)
class LeakSettings(NoiseSettings):
    leak: float = setting(0.0, "Weight w in [0, 1] of the realized future return (a NEGATIVE "
                               "CONTROL: w = 1 is ordinary RL's credit).")

    def validate(self, section: str = "approval") -> None:
        super().validate(section)
        if not is_number(self.leak) or not 0 <= self.leak <= 1:
            raise fail(section, "leak", self.leak, "the leak weight w must be in [0, 1]")


def leak_approval(tables: Tables, trusted: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - w) * trusted + w * (observed advantage under the observed-optimal future)``."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"leak={weight!r} is invalid: must be in [0, 1]")
    leaked = advantage_approval(tables, overseer_values(tables, tables.reward_table("observed")))
    return (1.0 - weight) * trusted + weight * leaked


def build(ctx: BuildContext, settings: LeakSettings) -> TableApproval:
    tables = ctx.require_tables("leak")
    values = trusted_values(tables)
    return TableApproval(
        "leak", ctx.env, tables, ctx.seeds,
        lambda seed: leak_approval(tables, noisy_advantage(tables, values, settings, seed),
                                   settings.leak),
        settings.seed_dependent)


SPEC = ApprovalSpec(
    name="leak",
    summary="NEGATIVE CONTROL: mixes the realized future observed return into the trusted "
            "approval with weight --leak w.",
    settings=LeakSettings,
    build=build,
    needs=lambda settings: TABLES,
    family=lambda settings: Family("leak", "leak", "leak weight w (negative control)",
                                   "#c62828"),
    control=True,
    seed_dependent=lambda settings: settings.seed_dependent,
)
