"""PPO's batch runner for the experiment system: a batch of seeds of one condition, trained in
one vmapped call per contiguous block; every evaluation point logged, the final metrics of each
seed yielded together."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monarl.algos.batching import batch_record, log_curves, seed_blocks
from monarl.algos.ppo.run import run_ppo


def run(runs: list[Any], ctx: Any) -> Iterator[list[tuple[Any, dict, dict]]]:
    first = runs[0]
    config = first.settings
    stage = getattr(ctx, "stage", None)
    for block_runs, progress in seed_blocks(runs, ctx):
        overseer_steps = first.approval.setting("overseer_steps")
        overseer_progress = None
        if stage is not None and overseer_steps is not None:
            overseer_progress = stage(f"overseer PPO on the true reward, {len(block_runs)} "
                                      "seed(s)", overseer_steps)
        result = run_ppo(env=first.env, approval=first.approval, horizon=first.horizon,
                         seeds=len(block_runs), steps=config.total_steps,
                         seed_offset=block_runs[0].seed, config=config, progress=progress,
                         overseer_progress=overseer_progress)
        curves = result["curves"]
        log_curves(ctx, block_runs, curves, [k for k in curves if k != "env_steps"])
        batch = {**batch_record(result, len(block_runs)),
                 "approval_seconds": result["approval_seconds"]}
        info: dict[str, Any] = {"steps": result["steps"], "batch": batch}
        if result["config"]["evaluation"] != "exact":  # exact: the default, recorded by absence
            info["evaluation"] = result["config"]["evaluation"]
            info["eval_episodes"] = config.eval_episodes
        if result.get("overseer"):
            info["overseer"] = {k: v for k, v in result["overseer"].items() if k != "per_seed"}
        yield [
            (run, {k: v for k, v in result["per_seed"][i].items() if k != "seed"}, info)
            for i, run in enumerate(block_runs)
        ]
