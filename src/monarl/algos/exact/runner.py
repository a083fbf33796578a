"""The exact solver's batch runner for the experiment system: a batch of runs that agree on
everything but seed and horizon, solved with as few ``exact_study`` calls as possible (runs are
grouped into rectangles horizons x contiguous seeds)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from monarl.algos.batching import contiguous
from monarl.algos.exact.study import exact_study


def run(runs: list[Any], ctx: Any) -> Iterator[list[tuple[Any, dict, dict]]]:
    first = runs[0]
    by_key = {(r.horizon, r.seed): r for r in runs}
    seeds_of: dict[int | None, set[int]] = defaultdict(set)
    for r in runs:
        seeds_of[r.horizon].add(r.seed)
    rectangles: dict[tuple[int, ...], list[int | None]] = defaultdict(list)
    for horizon, seeds in seeds_of.items():
        rectangles[tuple(sorted(seeds))].append(horizon)
    settings = first.settings
    for seeds, horizons in rectangles.items():
        for block in contiguous(list(seeds)):
            study = exact_study(first.env, first.approval, horizons, seeds=len(block),
                                seed_offset=block[0], reward=settings.reward,
                                tie_break=settings.tie_break, window=settings.window,
                                with_baselines=False)
            batch = {"runs": len(block) * len(horizons), "wall_seconds": study["wall_seconds"]}
            info = {"states": study["states"], "initial_states": study["initial_states"],
                    "hack_free": study["hack_free"], "batch": batch}
            quality = study.get("approval_quality", {}).get("per_seed")
            yield [
                (by_key[(row["horizon"], seed)],
                 {**row["per_seed"][i],
                  **({"approval_" + k: v for k, v in quality[i].items()} if quality else {})},
                 info)
                for row in study["results"]
                for i, seed in enumerate(block)
            ]
