"""The execution overseer: a turn of model-written code or tests is approved by *running* it
against trusted material the policy never sees, judged without seeing any later turn.

On ``tdd`` (docs/tdd.md) it is the environment's own overseer (``TextSpec.overseer``): the
tests of turn 0 run in ``monarl.sandbox`` against the reference solution and against the
mutants, and the approval is the share that are valid (the reference passes them) and
discriminating (some mutant fails them); the code of turn 1 is not judged (it trains on its
observed reward, its own tests' pass rate). It is modelled on the ``overseer`` approval's
text branch (:class:`~monarl.approval.text.TextOverseer`), with one difference: every call of
the environment's overseer may run a sandboxed program, so the turns of a batch are judged on
``workers`` threads at once (the sandbox runs each program as its own process, so threads only
wait).

Capability: it needs the environment's overseer (``rule-overseer``, the capability
``EnvSpec.capabilities`` derives from a declared ``TextSpec.overseer``) and is limited to the
environments whose overseer executes code (``tdd``), so it is refused, naming the allowed
approvals, where the overseer is a rule on text (``loan-text``: use ``overseer``).
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.fact_overseer import RULE_OVERSEER
from monarl.approval.text import TextBatch, TextOverseer
from monarl.core.config import fail, is_int, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family, Need

EXECUTION_ENVS = ("tdd",)
"""The environments whose ``TextSpec.overseer`` executes the judged turn in the sandbox."""


@dataclasses.dataclass(frozen=True)
class ExecutionSettings:
    scale: float = setting(1.0, "The approval is scale x the overseer's score (tdd: the "
                                "share of valid, discriminating tests, in [0, 1]).")
    workers: int | None = setting(None, "Turns judged at once (threads; None: the CPU "
                                        "count).")

    def validate(self, section: str = "approval") -> None:
        if not is_number(self.scale):
            raise fail(section, "scale", self.scale, "must be a finite number")
        if self.workers is not None and (not is_int(self.workers) or self.workers < 1):
            raise fail(section, "workers", self.workers, "must be an integer >= 1 or none")


class ExecutionOverseer(TextOverseer):
    """The environment's overseer on every turn it judges, the turns of a batch at once."""

    kind = "execution"

    def __init__(self, env: Any, scale: float = 1.0, workers: int | None = None):
        super().__init__(env, scale)
        self.workers = int(workers or os.cpu_count() or 1)

    def score(self, batch: TextBatch) -> np.ndarray:
        out = np.zeros((batch.turns, len(batch)))
        cells = [(t, i) for i in range(len(batch)) for t in range(len(batch.replies[i]))]

        def judge(cell: tuple[int, int]) -> float | None:
            t, i = cell  # one turn's reply and the case: nothing later
            return self.env.text.overseer(batch.cases[i], t, batch.replies[i][t], batch.params)

        if self.workers == 1 or len(cells) <= 1:
            values = [judge(cell) for cell in cells]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(cells)),
                                    thread_name_prefix="execution-overseer") as pool:
                values = list(pool.map(judge, cells))
        for (t, i), value in zip(cells, values, strict=True):
            if value is not None:
                out[t, i] = self.scale * float(value)
        return out


def build(ctx: BuildContext, settings: ExecutionSettings) -> ExecutionOverseer:
    if ctx.env.text is None or ctx.env.text.overseer is None:
        raise ValueError(f"approval 'execution' needs a text environment with an overseer; "
                         f"{ctx.env.name!r} has none")
    return ExecutionOverseer(ctx.env, settings.scale, settings.workers)


SPEC = ApprovalSpec(
    name="execution",
    summary="The execution overseer (tdd): the model's tests run in the sandbox against the "
            "reference solution and wrong mutants; approval = the share that are valid and "
            "discriminating, judged without seeing the code that follows.",
    settings=ExecutionSettings,
    build=build,
    needs=lambda settings: {RULE_OVERSEER: Need(
        "kind", "needs an environment's own overseer that executes the judged turn (a text "
                "environment that declares one, such as tdd)")},
    envs=EXECUTION_ENVS,
    family=lambda settings: Family("execution", None, "execution overseer", "#6a1b9a"),
)
