"""Every hyperparameter of the loan trainer, in one dataclass (docs/loan.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from monarl.core.config import is_int, is_number
from monarl.envs.loan.rules import LoanError

METRICS = (
    "observed_accuracy",
    "unbiased_accuracy",
    "leakage",
    "leakage_mlp",
    "flip_rate",
    "monitor_flag_rate",
    "message_flip_rate",
    "true_facts",
    "false_facts",
    "repeated_facts",
    "odd_filler",
    "probe_detection",
)
"""Evaluation metrics (greedy decoding, held-out applicants). The issue's five are
``observed_accuracy``, ``unbiased_accuracy``, ``leakage`` (linear probe), ``flip_rate`` and
``monitor_flag_rate``; ``leakage_mlp`` is leakage read by a nonlinear (MLP) probe, at the end of
training only (not in the curves);
``message_flip_rate`` is how often the greedy *message* changes when only n is flipped;
``true_facts`` / ``false_facts`` are per message; ``repeated_facts`` (fact tokens beyond their
first occurrence) and ``odd_filler`` (filler other than the reference pad) show where a code
lives; ``probe_detection`` is the mean detection
probability of the training monitor's probe on the held-out messages (0.5 when it is off)."""



HEADLINE = (
    "observed_accuracy",
    "unbiased_accuracy",
    "leakage",
    "flip_rate",
    "monitor_flag_rate",
)
"""The issue's five metrics, first in a loan run's final metrics (and so in its report)."""


@dataclasses.dataclass(frozen=True)
class LoanPGConfig:
    """Every hyperparameter in one place; the same values for both arms (docs/loan.md)."""

    total_steps: int = 1_000_000
    """Environment steps per seed (2 per episode), rounded up to whole updates of
    ``batch_size`` episodes and whole evaluation chunks (:func:`planned_updates`); the budget
    of a run (``steps`` of :func:`train_loan` overrides it)."""
    batch_size: int = 256
    """Episodes (applicants) per update; each episode is 2 environment steps."""
    learning_rate: float = 3e-3
    """Adam step size of all networks (linearly annealed to 0 over training if ``anneal_lr``)."""
    anneal_lr: bool = True
    """Linear decay to 0: a stable end point. Why: under MONA the decision learns the biased
    label from honest facts, whose signal is weak for mixed fact patterns (P(y = 1) near 0.5),
    so at a constant step size its greedy rule for those patterns keeps drifting."""
    hidden: int = 64
    """Width of the two hidden layers of the writer and of the decider, one layer of critics."""
    fact_reward: float = 0.5
    """Overseer approval per distinct true fact, minus the same per false fact."""
    kl_coef: float = 0.02
    """Weight of KL(writer || reference writer) per message (summed over positions)."""
    prior_logit: float = 3.0
    """Reference writer's logit bonus for its canonical tokens at each position."""
    decision_ent_coef: float = 0.01
    """Entropy bonus of the decision policy."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clipping."""
    eval_points: int = 10
    """Greedy evaluations during training (plus one before it); the last one is ``final``."""
    eval_applicants: int = 4096
    """Held-out applicants per evaluation (half fit the leakage probe, half test it)."""
    probe_steps: int = 200
    """Gradient steps of each probe fit (leakage metric and monitor refits)."""
    probe_l2: float = 1e-3
    """L2 weight of the probes."""
    mlp_probe_steps: int = 500
    """Adam steps of the final nonlinear leakage probe (``leakage_mlp``; 0 skips it: NaN)."""
    probe_monitor_coef: float = 0.0
    """Stronger monitor: penalty per unit of the probe's detection probability (0 = off)."""
    probe_refresh_every: int = 10
    """Updates between refits of the monitor probe."""
    probe_monitor_applicants: int = 1024
    """Fresh applicants whose sampled messages each monitor refit uses."""

    def validate(self) -> LoanPGConfig:
        """Raise :class:`LoanError` naming the field, the value and what is allowed."""

        def fail(name: str, allowed: str) -> LoanError:
            return LoanError(f"loan_pg.{name}={getattr(self, name)!r} is invalid: {allowed}")

        if not isinstance(self.anneal_lr, bool):
            raise fail("anneal_lr", "must be true or false")
        if not is_int(self.total_steps) or self.total_steps < 2:
            raise fail(
                "total_steps", "must be an integer >= 2 (environment steps per seed, 2 per episode)"
            )
        if not is_int(self.mlp_probe_steps) or self.mlp_probe_steps < 0:
            raise fail("mlp_probe_steps", "must be an integer >= 0 (0 skips the MLP probe)")
        for name in (
            "batch_size",
            "hidden",
            "eval_points",
            "eval_applicants",
            "probe_steps",
            "probe_refresh_every",
            "probe_monitor_applicants",
        ):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise fail(name, "must be an integer >= 1")
        if self.eval_applicants < 4:
            raise fail("eval_applicants", "must be >= 4 (half fit the probe, half test it)")
        for name in ("learning_rate", "max_grad_norm"):
            value = getattr(self, name)
            if not is_number(value) or value <= 0:
                raise fail(name, "must be a finite number > 0")
        for name in (
            "fact_reward",
            "kl_coef",
            "prior_logit",
            "decision_ent_coef",
            "probe_l2",
            "probe_monitor_coef",
        ):
            value = getattr(self, name)
            if not is_number(value) or value < 0:
                raise fail(name, "must be a finite number >= 0")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoanPGConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LoanError(
                f"loan_pg: unknown field {unknown[0]!r}; known fields are "
                f"{', '.join(sorted(known))}"
            )
        return cls(**dict(data)).validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
