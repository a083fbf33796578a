"""The loan trainer's batch runner for the experiment system: a batch of seeds of one
condition in one vmapped ``train_loan`` call per contiguous block; every evaluation point
logged, the final metrics of each seed yielded together."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from monarl.algos.batching import batch_record, log_curves, seed_blocks
from monarl.algos.loan_pg.config import HEADLINE, METRICS
from monarl.algos.loan_pg.run import train_loan
from monarl.envs.loan import rules as loan


def run(runs: list[Any], ctx: Any) -> Iterator[list[tuple[Any, dict, dict]]]:
    first = runs[0]
    config = first.settings
    params = first.env.params()
    bounds = loan.accuracy_bounds(params)
    order = (*HEADLINE, *(m for m in METRICS if m not in HEADLINE))
    for block_runs, progress in seed_blocks(runs, ctx):
        result = train_loan(params, first.approval, first.horizon, seeds=len(block_runs),
                            seed_offset=block_runs[0].seed, config=config, bounds=False,
                            progress=progress)
        curves = result["curves"]
        # evaluation metrics first, then the training diagnostics (kl, value_loss, ...)
        names = [m for m in order if m in curves]
        log_curves(ctx, block_runs, curves,
                   names + [k for k in curves if k != "env_steps" and k not in names])
        info = {"steps": result["steps"], "updates": result["config"]["updates"],
                "arm": result["config"]["arm"], "bounds": bounds,
                "batch": batch_record(result, len(block_runs))}
        done = []
        for i, run in enumerate(block_runs):
            row = result["per_seed"][i]
            final = {m: (row[m] if math.isfinite(row[m]) else None) for m in order}
            done.append((run, final, info))
        yield done
