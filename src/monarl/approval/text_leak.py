"""Outcome-leaking approval for text: a NEGATIVE CONTROL, not a method.

A turn's approval is the environment's rule-based overseer (where it has one) plus ``w`` times
the observed rewards of every *later* turn of the same episode: exactly what MONA's approval
must never see. With ``w = 1`` and horizon 1, the summary is credited with the decision's
reward, ordinary RL's credit, so the hack returns; reports label it a control.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.judge import TEXT
from monarl.approval.text import TextApproval, TextBatch, TextOverseer
from monarl.core.config import fail, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family


@dataclasses.dataclass(frozen=True)
class TextLeakSettings:
    leak: float = setting(1.0, "Weight w in [0, 1] of the later turns' observed rewards (a "
                               "NEGATIVE CONTROL: w = 1 is ordinary RL's credit).")

    def validate(self, section: str = "approval") -> None:
        if not is_number(self.leak) or not 0 <= self.leak <= 1:
            raise fail(section, "leak", self.leak, "the leak weight w must be in [0, 1]")


class TextLeak(TextApproval):
    kind = "text-leak"

    def __init__(self, env, weight: float):
        self.overseer = TextOverseer(env) if env.text.overseer is not None else None
        self.weight = float(weight)

    def score(self, batch: TextBatch) -> np.ndarray:
        base = (self.overseer.score(batch) if self.overseer is not None
                else np.zeros_like(batch.observed))
        later = np.cumsum(batch.observed[::-1], axis=0)[::-1] - batch.observed
        return base + self.weight * later


def build(ctx: BuildContext, settings: TextLeakSettings) -> TextLeak:
    return TextLeak(ctx.env, settings.leak)


SPEC = ApprovalSpec(
    name="text-leak",
    summary="NEGATIVE CONTROL for text: the overseer plus w x the later turns' observed "
            "rewards (--set approval.leak=w).",
    settings=TextLeakSettings,
    build=build,
    needs=lambda settings: TEXT,
    family=lambda settings: Family("leak", "leak", "leak weight w (negative control)",
                                   "#c62828"),
    control=True,
)
