"""The conditions ("arms") of an experiment file: its runs grouped by everything but the seed,
for code that trains each condition in one call rather than through a store (benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monarl.core.config import ConfigError
from monarl.experiments.spec import SpecError, load_sweep


def load_arms(path: str | Path, algo: str | None = None, main: bool = True
              ) -> list[dict[str, Any]]:
    """One dict per condition of an experiment file (a ``[variants.NAME]``, or ``base``
    without variants; runs that differ only in ``seed``, which must be contiguous): ``{"name",
    "main", "seeds", "seed_offset", "steps", "algo", "approval" (ApprovalConfig), "horizon",
    "env" (EnvConfig), "config" (the trainer's settings), "runs"}``. ``algo``: refuse runs of
    other trainers. ``main`` labels every arm (a benchmark's main file against its variants)."""
    try:
        sweep = load_sweep(path)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    groups: dict[tuple[str, str], list[Any]] = {}
    for run in sweep.runs:
        if algo is not None and run.algo != algo:
            raise ConfigError(f"{path}: algo={run.algo!r} is invalid: this file needs {algo!r}")
        name = sweep.variants.get(run.run_id, "base")
        key = (name, json.dumps(run.without("seed"), sort_keys=True))
        groups.setdefault(key, []).append(run)
    names = [name for name, _ in groups]
    arms = []
    for i, ((name, _), runs) in enumerate(groups.items()):
        seeds = sorted(r.seed for r in runs)
        if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
            raise ConfigError(f"{path}: {name}: seeds {seeds} are not contiguous")
        first = runs[0]
        arms.append({
            "name": name if names.count(name) == 1 else f"{name}-{names[:i].count(name) + 1}",
            "main": main,
            "seeds": len(seeds),
            "seed_offset": seeds[0],
            "steps": getattr(first.settings, "total_steps", None),
            "algo": first.algo,
            "approval": first.approval,
            "horizon": first.horizon,
            "env": first.env,
            "config": first.settings,
            "runs": runs,
        })
    return arms
