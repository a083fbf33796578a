"""Running a list of run specs, with or without a store: the one path behind ``monarl train``.

Without a store the trainer's batch runner (``TrainerSpec.run``, the same code a sweep's worker
calls) trains the runs in this process, behind a progress bar; with one the runs go through the
experiment system (crash-safe, resumable, visible to ``monarl report``). Either way the result
is one record per run (final metrics, info, logged evaluation points), and :func:`train_json`
turns the records of one condition into the JSON of ``monarl train --json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from monarl.core.stats import bootstrap_ci, t_half_width
from monarl.experiments.spec import RunSpec, Sweep
from monarl.experiments.store import Store


class MemoryContext:
    """The context a trainer's batch runner reports to when no store keeps the runs."""

    def __init__(self, progress: Callable[..., None] | None = None,
                 stage: Callable[[str, int], Callable[..., None] | None] | None = None):
        self.lines: dict[str, list[dict[str, Any]]] = {}
        self._progress = progress
        self._stage = stage

    def log(self, run: RunSpec, line: dict[str, Any]) -> None:
        self.lines.setdefault(run.run_id, []).append(line)

    def progress(self, runs: list[RunSpec], env_steps: int, **shown: str) -> None:
        """Report ``env_steps`` done per seed; ``shown`` (``rate``, ``unit``) replaces the
        bar's own texts for trainers whose steps are not environment steps."""
        if self._progress is not None:
            self._progress(env_steps, **shown)

    def stage(self, label: str, total: int) -> Callable[[int], None] | None:
        """A progress callback for a stage of its own (an overseer trained first)."""
        return None if self._stage is None else self._stage(label, total)


def _records_in_memory(runs: list[RunSpec], quiet: bool) -> list[dict[str, Any]]:
    from monarl.runtime.progress import ProgressBoard

    trainer = runs[0].trainer
    steps = trainer.steps(runs[0])
    label = f"{trainer.name} {len(runs)} seed(s)"
    records: dict[str, dict[str, Any]] = {}
    with ProgressBoard(quiet) as board:
        ctx = MemoryContext(progress=board.add(label, steps) if steps else None, stage=board.add)
        for batch in _batches(runs):
            started = time.perf_counter()
            for item in trainer.run(batch, ctx):
                for run, final, info in (item if isinstance(item, list) else [item]):
                    records[run.run_id] = {
                        "id": run.run_id, "config": run.to_dict(), "final": final,
                        "info": {k: v for k, v in info.items() if k != "batch"},
                        "batch": info.get("batch", {}),
                        "wall_seconds": time.perf_counter() - started,
                        "metrics": ctx.lines.get(run.run_id, []),
                    }
    return [records[r.run_id] for r in runs]


def _batches(runs: list[RunSpec]) -> Iterator[list[RunSpec]]:
    """Runs that the trainer may train together (everything but its batch fields agree)."""
    groups: dict[str, list[RunSpec]] = {}
    for run in runs:
        groups.setdefault(run.trainer.batch_key(run), []).append(run)
    yield from groups.values()


def _records_in_store(runs: list[RunSpec], store: Store, quiet: bool,
                      command: str) -> list[dict[str, Any]]:
    from monarl.experiments.sweep import local_factory, run_sweep

    config = runs[0].to_dict()
    config.pop("seed")
    sweep = Sweep(name="train", path=None, source=json.dumps(config, indent=1), runs=runs,
                  axes={"seed": [r.seed for r in runs]}, variants={})
    store.init()
    outcome = run_sweep(sweep, store, local_factory(1), quiet=quiet, command=command,
                        echo=(lambda *a, **k: None) if quiet else print)
    if outcome.interrupted:
        raise KeyboardInterrupt
    records = []
    for run in runs:
        if not store.is_done(run.run_id):
            continue
        record = store.read_json(run.run_id, "summary.json")
        record["metrics"] = store.read_metrics(run.run_id)
        records.append(record)
    return records


def execute(runs: list[RunSpec], store: Store | None = None, quiet: bool = False,
            command: str = "monarl train") -> list[dict[str, Any]]:
    """Train ``runs`` (validated run specs of one condition, one per seed) through their
    trainer, in this process or through ``store``; returns one record per finished run."""
    if store is None:
        return _records_in_memory(runs, quiet)
    return _records_in_store(runs, store, quiet, command)


# --------------------------------------------------------------------------------------------
# The JSON of `monarl train`
# --------------------------------------------------------------------------------------------


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _curves(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Logged evaluation points as ``env_steps`` [E] and every metric as [seed][E]."""
    lines = [[ln for ln in r.get("metrics", []) if "env_steps" in ln] for r in records]
    if not lines or not lines[0]:
        return {}
    curves: dict[str, Any] = {"env_steps": [ln["env_steps"] for ln in lines[0]]}
    for name in lines[0][0]:
        if name != "env_steps":
            curves[name] = [[ln.get(name) for ln in seed_lines] for seed_lines in lines]
    return curves


def like_ordinary_sentence(per_seed: list[int], updates: int) -> str:
    """What ``train`` and a report say of MONA runs whose advantages were exactly ordinary
    RL's on some updates (``updates_like_ordinary`` per seed, out of ``updates`` in all)."""
    return (f"On {sum(per_seed)} of MONA's {updates} updates (per seed "
            f"{', '.join(map(str, per_seed))}) its advantages were exactly ordinary RL's: every "
            "later-turn reward was the same across each group, so the group baseline removed it "
            "and MONA trained as ordinary RL would have (advantage_gap 0 in metrics.jsonl).")


def train_json(runs: list[RunSpec], records: list[dict[str, Any]], wall: float,
               stored: bool = False) -> dict[str, Any]:
    """The JSON of ``monarl train --json`` for one condition's records: ``final`` (mean over
    seeds of the trainer's headline metrics, then its other metrics), ``final_ci95`` (the
    trainer's interval: Student-t half-widths, or percentile-bootstrap ``[low, high]``),
    ``final_greedy`` (where
    the runs measured the argmax policy), ``per_seed``, ``steps``, ``seeds``,
    ``wall_seconds``, ``env_steps_per_second``, ``curves``, ``config`` (the run config, seeds
    instead of one seed), and where measured ``approval_quality``, ``overseer``, ``bounds``;
    ``runs``: the run ids, when a store keeps them."""
    trainer = runs[0].trainer
    per_seed = [{"seed": r["config"]["seed"], **r["final"]} for r in records]
    numeric = [k for k in (per_seed[0] if per_seed else {}) if k != "seed"
               and all(_numeric(p.get(k)) for p in per_seed)]
    first = [m for m in (trainer.headline(runs[0].env.spec) if trainer.headline else numeric)
             if m in numeric]
    # the headline first, then every other metric of the policy (the argmax policy's and the
    # approval's own measurements have keys of their own below)
    headline = first + [m for m in numeric if m not in first
                        and not m.startswith(("greedy_", "approval_"))]

    def values(name: str) -> np.ndarray:
        return np.asarray([p[name] for p in per_seed], np.float64)

    def interval(name: str) -> Any:
        if trainer.interval == "bootstrap":
            return list(bootstrap_ci(values(name)))
        return t_half_width(values(name))

    info = records[0].get("info", {}) if records else {}
    steps = int(info.get("steps", trainer.steps(runs[0]) or 0))
    config = runs[0].to_dict()
    config.pop("seed")
    config["seeds"] = [r.seed for r in runs]
    result: dict[str, Any] = {
        "final": {m: float(values(m).mean()) for m in headline},
        "final_ci95": {m: interval(m) for m in headline},
        "per_seed": per_seed,
        "steps": steps,
        "seeds": len(per_seed),
        "wall_seconds": wall,
        "env_steps_per_second": steps * len(per_seed) / wall if wall > 0 else 0.0,
        "curves": _curves(records),
        "config": config,
    }
    greedy = [m for m in headline if f"greedy_{m}" in numeric]
    if greedy:
        result["final_greedy"] = {m: float(values(f"greedy_{m}").mean()) for m in greedy}
    quality = [k for k in numeric if k.startswith("approval_")]
    if quality:
        rows = [{k[len("approval_"):]: p[k] for k in quality} for p in per_seed]
        result["approval_quality"] = {"per_seed": rows, **{
            k[len("approval_"):]: float(values(k).mean()) for k in quality}}
    for key in ("overseer", "bounds", "evaluation"):
        if key in info:
            result[key] = info[key]
    if "updates" in info:  # language models: steps are optimizer updates, speed is tokens/s
        result["updates"] = int(info["updates"])
        for key in ("generation_tokens_per_second", "training_tokens_per_second"):
            speeds = [r["info"][key] for r in records if key in r.get("info", {})]
            if speeds:
                result[key] = float(np.mean(speeds))
        alike = [r["info"].get("updates_like_ordinary") for r in records]
        if alike and all(isinstance(a, int) for a in alike):
            result["updates_like_ordinary"] = alike  # per seed (MONA runs; monarl.core.horizon)
        resumed = [r["info"].get("resumed_from") for r in records]
        if any(r is not None for r in resumed):
            result["resumed_from"] = resumed  # per seed: the checkpoint's update, or None
    if stored:
        result["runs"] = [r["id"] for r in records]
    return result
