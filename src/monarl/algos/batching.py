"""What every trainer's batch runner does with a batch of runs: train contiguous blocks of
seeds (a trainer takes a seed offset and a count), report progress per block, and log every
evaluation point of its curves as one metrics line per run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def contiguous(seeds: list[int]) -> list[list[int]]:
    """[0, 1, 2, 5, 6] -> [[0, 1, 2], [5, 6]] (solvers take a seed offset and a count)."""
    blocks: list[list[int]] = []
    for s in sorted(seeds):
        if blocks and s == blocks[-1][-1] + 1:
            blocks[-1].append(s)
        else:
            blocks.append([s])
    return blocks


def seed_blocks(runs: list[Any], ctx: Any) -> Iterator[tuple[list[Any], Any]]:
    """The runs of one condition in blocks of contiguous seeds, each with the progress
    callback that reports to the context for that block."""
    by_seed = {r.seed: r for r in runs}
    for block in contiguous(list(by_seed)):
        block_runs = [by_seed[s] for s in block]
        yield block_runs, lambda env_steps, b=block_runs: ctx.progress(b, int(env_steps))


def log_curves(ctx: Any, block_runs: list[Any], curves: dict[str, Any],
               names: list[str]) -> None:
    """Every evaluation point of a trainer's ``curves`` (metric -> [seed][point]) as one
    metrics line per run."""
    for i, run in enumerate(block_runs):
        for e, steps in enumerate(curves["env_steps"]):
            ctx.log(run, {"env_steps": steps, **{n: curves[n][i][e] for n in names}})


def batch_record(result: dict[str, Any], runs: int) -> dict[str, Any]:
    """What a summary records about the runs trained together with it."""
    return {"runs": runs, "wall_seconds": result["wall_seconds"],
            "env_steps_per_second": result["env_steps_per_second"]}
