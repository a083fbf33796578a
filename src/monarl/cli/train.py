"""What ``monarl train`` does behind the option parsing: run, show progress, print results.

Without ``--store`` the seeds train in one vmapped call (``monarl.algos.ppo.run_ppo``) behind a
rich progress bar. With ``--store`` the same condition runs as a one-condition sweep through the
experiment system (one run per seed, crash-safe, resumable, visible to ``monarl report``), and
the JSON is assembled from the store's run summaries.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer

from monarl.core.config import OVERSEER_APPROVALS, ApprovalConfig, ConfigError, EnvConfig
from monarl.runtime.progress import progress_bar


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def ppo_config(overrides: dict[str, Any], steps: int):
    """PPOConfig from ``--set`` overrides (validated: unknown keys and bad values fail)."""
    from monarl.algos.ppo import PPOConfig

    known = {f.name for f in dataclasses.fields(PPOConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        _fail(f"--set {unknown[0]}: unknown PPO setting; known are {', '.join(sorted(known))}")
    data = {**overrides, "total_steps": steps}
    try:
        return PPOConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        _fail(f"--set: {exc}")


def train_camera_command(env: EnvConfig, approval: ApprovalConfig, horizon: int | None,
                         seeds: int, steps: int, seed_offset: int, overrides: dict[str, Any],
                         quiet: bool, store: Path | None) -> dict[str, Any]:
    config = ppo_config(overrides, steps)
    check_tabulable(env, approval)
    if store is not None:
        return _train_via_store(env, approval, horizon, seeds, seed_offset, config, quiet, store)
    from monarl.algos.ppo import run_ppo
    from monarl.envs.camera_dropbox.tables import TooLargeError

    try:
        if approval.kind in OVERSEER_APPROVALS:  # the overseer first, behind its own bar
            from monarl.algos.ppo import train_overseer

            with progress_bar(approval.overseer_steps, quiet,
                              f"overseer PPO on the true reward, {seeds} seed(s)") as update:
                train_overseer(dataclasses.asdict(env), config, approval.overseer_steps,
                               list(range(seed_offset, seed_offset + seeds)), progress=update,
                               start_time=approval.overseer_start_time)
        with progress_bar(steps, quiet, f"PPO {seeds} seed(s)") as update:
            return run_ppo(env=dataclasses.asdict(env), approval=approval, horizon=horizon,
                           seeds=seeds, steps=steps, seed_offset=seed_offset, config=config,
                           progress=update)
    except (TooLargeError, ConfigError) as exc:
        _fail(str(exc))


def check_tabulable(env: EnvConfig, approval: ApprovalConfig) -> None:
    """Fail before any work when the board is too large for PPO (see ``ppo.untabulable``)."""
    from monarl.algos.ppo import untabulable

    problem = untabulable(env.rows, env.cols, env.boxes, approval.kind)
    if problem:
        _fail(f"--rows={env.rows} --cols={env.cols} --boxes={env.boxes} is invalid: {problem}")


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def condition_toml(env: EnvConfig, approval: ApprovalConfig, horizon: int | None, seeds: int,
                   seed_offset: int, config) -> str:
    """A one-condition experiment file for the same settings (also what the store records)."""
    lines = ['name = "train"', "[base]", 'algo = "ppo"', f"horizon = {_toml_value(horizon)}",
             "[base.env]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in dataclasses.asdict(env).items()]
    lines.append("[base.approval]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in dataclasses.asdict(approval).items()
              if v is not None]  # None = unset (evaluator_lr); TOML has no null
    lines.append("[base.ppo]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in config.to_dict().items() if v is not None]
    lines += ["[sweep]", f"seed = {{range = [{seed_offset}, {seed_offset + seeds - 1}]}}"]
    return "\n".join(lines) + "\n"


def _train_via_store(env, approval, horizon, seeds, seed_offset, config, quiet, store: Path):
    from monarl.experiments.spec import SpecError, parse_sweep
    from monarl.experiments.store import Store, StoreError
    from monarl.experiments.sweep import local_factory, run_sweep

    text = condition_toml(env, approval, horizon, seeds, seed_offset, config)
    try:
        sweep = parse_sweep(text, Path("monarl-train"))
        target = Store(store)
        target.init()
    except (SpecError, StoreError, ConfigError) as exc:
        _fail(str(exc))
    started = time.perf_counter()
    run_sweep(sweep, target, local_factory(1), quiet=quiet, command="monarl train",
              echo=(lambda *a, **k: None) if quiet else print)
    summaries = [target.read_json(run.run_id, "summary.json") for run in sweep.runs
                 if target.is_done(run.run_id)]
    if len(summaries) < seeds:
        _fail(f"{seeds - len(summaries)} of {seeds} runs did not finish; see "
              f"{store}/log.jsonl and rerun the same command to resume")
    return result_from_summaries(summaries, target, time.perf_counter() - started)


def result_from_summaries(summaries: list[dict[str, Any]], store, wall: float) -> dict[str, Any]:
    """The ``monarl train --json`` shape from per-seed run summaries (and their curves)."""
    per_seed = [{"seed": s["config"]["seed"], **s["final"]} for s in summaries]
    keys = [k for k in per_seed[0] if k != "seed" and isinstance(per_seed[0][k], int | float)]
    final = {k: float(np.mean([p[k] for p in per_seed])) for k in keys}
    steps = summaries[0]["config"]["ppo"]["total_steps"]
    curves: dict[str, Any] = {}
    metrics = [store.read_metrics(s["id"]) for s in summaries]
    if metrics and metrics[0]:
        curves["env_steps"] = [m["env_steps"] for m in metrics[0]]
        for name in metrics[0][0]:
            if name != "env_steps":
                curves[name] = [[m.get(name) for m in rows] for rows in metrics]
    return {"final": final, "per_seed": per_seed, "steps": steps, "seeds": len(per_seed),
            "wall_seconds": wall, "env_steps_per_second": steps * len(per_seed) / wall,
            "curves": curves, "config": summaries[0]["config"],
            "runs": [s["id"] for s in summaries]}


def train_loan_command(approval: str, horizon: int | None, seeds: int, steps: int | None,
                       seed_offset: int, overrides: dict[str, Any], quiet: bool
                       ) -> dict[str, Any]:
    try:
        from monarl.algos.loan_pg import train_loan
    except ImportError as exc:
        _fail(f"loan-steganography is not available in this installation: {exc}")
    if approval not in ("none", "overseer"):
        _fail(f"--approval={approval!r} is invalid for loan-steganography: allowed are none, "
              "overseer")
    if horizon not in (None, 1):
        _fail(f"--horizon={horizon!r} is invalid for loan-steganography: an episode has two "
              "steps, so use 1 (MONA) or none (ordinary RL)")
    from monarl.algos.loan_pg import LoanPGConfig
    from monarl.envs.loan.rules import LoanEnvConfig

    env_keys = {f.name for f in dataclasses.fields(LoanEnvConfig)} - {"name"}
    env = {k: v for k, v in overrides.items() if k in env_keys}
    rest = {k: v for k, v in overrides.items() if k not in env_keys}
    kwargs: dict[str, Any] = {"seed_offset": seed_offset, **rest}
    if steps is not None:
        kwargs["steps"] = steps
    total = steps if steps is not None else LoanPGConfig().total_steps
    try:
        with progress_bar(total, quiet, f"loan {seeds} seed(s)") as update:
            return train_loan(env or None, approval=approval, horizon=horizon, seeds=seeds,
                              progress=update, **kwargs)
    except (ConfigError, ValueError, TypeError) as exc:
        _fail(str(exc).splitlines()[0])


def print_train_result(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    final = result["final"]
    per_seed = result.get("per_seed", [])
    table = Table(title=f"{result.get('seeds')} seed(s), {result.get('steps'):,} steps each, "
                  f"{result.get('wall_seconds', 0):.1f} s, "
                  f"{result.get('env_steps_per_second', 0):,.0f} env steps/s")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("95 % CI (bootstrap over seeds)", justify="right")
    from monarl.reports.plots import bootstrap_ci

    for key, value in final.items():
        if not isinstance(value, int | float):
            continue
        samples = [p[key] for p in per_seed if key in p]
        lo, hi = bootstrap_ci(np.asarray(samples)) if samples else (value, value)
        table.add_row(key, f"{value:.3f}", f"[{lo:.3f}, {hi:.3f}]")
    quality = result.get("approval_quality")
    if quality:  # learned approval against the exact one (docs/approvals.md)
        for key in ("rank_correlation", "mae_reachable", "mae_visited"):
            samples = [q[key] for q in quality.get("per_seed", []) if key in q]
            if samples:
                lo, hi = bootstrap_ci(np.asarray(samples))
                table.add_row(f"approval_{key}", f"{np.mean(samples):.3f}",
                              f"[{lo:.3f}, {hi:.3f}]")
    Console().print(table)
