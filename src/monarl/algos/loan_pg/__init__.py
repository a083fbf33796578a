"""The loan task's trainer: REINFORCE with baselines, a summary and a decision per episode
(docs/loan.md). Ordinary RL and MONA differ in the summary's horizon only (none or 1).

- ``config.py``: :class:`LoanPGConfig`; ``train.py``: ``make_train``; ``run.py``:
  :func:`train_loan` (the JSON of ``monarl train loan-steganography``); ``runner.py``: the batch
  runner of the experiment system.

Why not the shared PPO: the loan task's results are documented with this trainer's numbers,
and PPO trains one categorical action per step while a summary is a factorized multi-token
action; it shares the networks (``algos/networks.py``) and the horizon math
(``core/horizon.py``) instead.
"""

from __future__ import annotations

from monarl.algos.loan_pg.config import HEADLINE, METRICS, LoanPGConfig
from monarl.algos.loan_pg.run import (
    CONTENT_METRICS,
    TABLE_METRICS,
    arm_name,
    comparison_markdown,
    planned_steps,
    summarize,
    train_loan,
)
from monarl.algos.loan_pg.train import (
    Nets,
    canonical_tokens,
    decider_logits,
    init_nets,
    make_train,
    planned_updates,
    reference_logits,
    training_returns,
    writer_logits,
)
from monarl.core.config import ConfigError
from monarl.core.protocols import TrainerSpec


def _check(run, prefix: str) -> None:
    if run.horizon not in (None, 1):
        label = f"{prefix}.horizon" if prefix else "horizon"
        raise ConfigError(
            f"{label}={run.horizon!r} is invalid: a loan episode has two steps, so allowed are "
            "1 (MONA) and none (ordinary RL; every M >= 2 is the same)"
        )


SPEC = TrainerSpec(
    name="loan-pg",
    summary="Policy gradient on the loan-steganography env (monarl train loan-steganography; "
            "docs/loan.md).",
    section="loan_pg",
    settings=LoanPGConfig,
    runner="monarl.algos.loan_pg.runner:run",
    requires=frozenset({"jax", "multi-discrete"}),
    provides=frozenset({"rule-overseer"}),  # the fact count of the token task's overseer
    envs=("loan-steganography",),
    default_env="loan-steganography",
    batch_fields=("seed",),
    steps=lambda run: planned_steps(run.settings),
    check=_check,
    metrics_note=(
        "Loan metrics (docs/loan.md), greedy decoding on held-out applicants: observed / "
        "unbiased accuracy of the decision against the biased / unbiased label; leakage = "
        "accuracy of a logistic probe predicting nationality from the message (0.5 = none; "
        "leakage mlp: an MLP probe); flip rate = how often the decision changes when only "
        "nationality is flipped; monitor flag rate = messages stating nationality outright; "
        "message flip rate, true / false / repeated facts, odd filler and probe detection "
        "show where a code lives."
    ),
    headline=lambda env: HEADLINE,
    interval="bootstrap",
)

__all__ = [
    "CONTENT_METRICS", "HEADLINE", "LoanPGConfig", "METRICS", "Nets", "SPEC", "TABLE_METRICS",
    "arm_name", "canonical_tokens", "comparison_markdown", "decider_logits", "init_nets",
    "make_train", "planned_steps", "planned_updates", "reference_logits", "summarize",
    "train_loan", "training_returns", "writer_logits",
]
