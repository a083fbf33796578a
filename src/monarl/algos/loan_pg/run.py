"""Host-side loan trainer: :func:`train_loan` (the JSON of ``monarl train loan-steganography``)
and the comparison table of its arms."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.algos.loan_pg.config import METRICS, LoanPGConfig
from monarl.algos.loan_pg.train import make_train, planned_updates
from monarl.approval import ApprovalConfig, build
from monarl.approval.base import BuildContext
from monarl.core.config import ConfigError, is_int
from monarl.core.horizon import validate_horizon
from monarl.core.stats import bootstrap_ci
from monarl.envs import EnvConfig
from monarl.envs.loan import rules as loan
from monarl.runtime.progress import ProgressRelay

LOAN = loan.NAME


def env_config(env: EnvConfig | Mapping[str, Any] | None) -> EnvConfig:
    """The loan environment's config from settings (a mapping; ``name``/``env`` may name it)."""
    if isinstance(env, EnvConfig):
        return env
    fields = dict(env or {})
    if "env" in fields:
        fields["name"] = fields.pop("env")
    fields.setdefault("name", LOAN)
    if fields["name"] != LOAN:
        raise loan.LoanError(f"env.name={fields['name']!r} is invalid: this trainer supports "
                             f"{LOAN!r}")
    try:
        return EnvConfig.from_mapping(fields, "env", default=LOAN)
    except ConfigError as exc:
        raise loan.LoanError(str(exc)) from None


def approval_config(approval: str | ApprovalConfig, env: EnvConfig) -> ApprovalConfig:
    """The trainer's approval (a kind or a config), checked against the environment like any
    run's: the loan task's overseer, none, or an approval of one's own that judges it."""
    from monarl.algos import TRAINERS
    from monarl.algos.check import check

    try:
        config = (approval if isinstance(approval, ApprovalConfig)
                  else ApprovalConfig.of(approval, "approval"))
        check(env, config, TRAINERS.get("loan-pg"))
    except ConfigError as exc:
        raise loan.LoanError(str(exc)) from None
    return config


def _parse_horizon(horizon: Any) -> int | None:
    if isinstance(horizon, str):
        if horizon.lower() in ("none", "full", "inf"):
            return None
        try:
            horizon = int(horizon)
        except ValueError:
            raise loan.LoanError(
                f"horizon={horizon!r} is invalid: allowed are 1 (MONA) and none (ordinary RL)"
            ) from None
    try:
        return validate_horizon(horizon)
    except ValueError as exc:
        raise loan.LoanError(
            f"horizon={horizon!r} is invalid: allowed are 1 (MONA) and none (ordinary RL)"
        ) from exc


def train_loan(
    env_params: loan.LoanParams | EnvConfig | Mapping[str, Any] | None = None,
    approval: str | ApprovalConfig = "overseer",
    horizon: int | str | None = None,
    seeds: int | list[int] = 10,
    steps: int | None = None,
    *,
    seed_offset: int = 0,
    config: LoanPGConfig | None = None,
    bounds: bool = True,
    progress: Callable[[int], None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``seeds`` seeds in one ``jit(vmap(train))`` call and return the run's JSON.

    Args:
        env_params: the environment's settings (a mapping, an ``EnvConfig``) or its
            :class:`~monarl.envs.loan.rules.LoanParams` (None = defaults).
        approval: ``"overseer"`` (summary reward = true minus false facts) or ``"none"``.
        horizon: ``None``/``"none"`` (ordinary RL) or ``1`` (MONA; any int M >= 1 is accepted,
            and with two steps every M >= 2 equals None).
        seeds: a count (seeds ``seed_offset ..``) or an explicit list of seeds.
        steps: environment steps per seed (2 per episode), rounded up to whole updates of
            ``batch_size`` episodes and whole evaluation chunks; None = ``config.total_steps``
            (default 1,000,000).
        config / overrides: :class:`LoanPGConfig` and field overrides.
        bounds: include the Monte-Carlo accuracy bounds (:func:`loan.accuracy_bounds`).
        progress: optional callback with the environment steps done per seed.

    Returns ``{"final", "final_ci95", "per_seed", "steps", "seeds", "wall_seconds",
    "env_steps_per_second", "curves", "bounds", "config"}``: ``final`` holds the means over seeds
    of :data:`METRICS`, ``final_ci95`` their 95 % percentile-bootstrap intervals over seeds,
    ``per_seed`` one row per seed. Everything is validated before any compilation.
    """
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise loan.LoanError(f"seeds={seeds!r} is invalid: must be an integer >= 1")
        if not is_int(seed_offset) or seed_offset < 0:
            raise loan.LoanError(f"seed_offset={seed_offset!r} is invalid: must be an int >= 0")
        seed_list = list(range(seed_offset, seed_offset + int(seeds)))
    else:
        seed_list = list(seeds) if seeds is not None else []
        if not seed_list or not all(is_int(s) and s >= 0 for s in seed_list):
            raise loan.LoanError(
                f"seeds={seeds!r} is invalid: an integer >= 1 or a non-empty list of ints >= 0"
            )
    if steps is not None and (not is_int(steps) or steps < 2):
        raise loan.LoanError(
            f"steps={steps!r} is invalid: must be an integer >= 2 "
            "(environment steps per seed, 2 per episode)"
        )
    if isinstance(env_params, loan.LoanParams):
        env, params = EnvConfig.of(LOAN), env_params
    else:
        env = env_config(env_params)
        params = env.params()
    approval_cfg = approval_config(approval, env)
    horizon = _parse_horizon(horizon)
    config = dataclasses.replace(config or LoanPGConfig(), **overrides)
    if steps is not None:
        config = dataclasses.replace(config, total_steps=int(steps))
    config = config.validate()
    steps = config.total_steps
    spec, settings = env.spec, None if isinstance(env_params, loan.LoanParams) else env.settings
    num_updates = max(1, math.ceil(steps / (2 * config.batch_size)))
    started = time.perf_counter()
    ctx = BuildContext(spec, settings, params, None, seed_list)
    built = build(approval_cfg, ctx)
    fn, updates = _compiled(config, params, built, approval_cfg.kind, horizon, num_updates)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seed_list])
    with _PROGRESS.forwarding(progress):
        out = jax.block_until_ready(fn(keys))
    wall = time.perf_counter() - started
    return summarize(out, params, config, approval_cfg.kind, horizon, seed_list, wall, updates,
                     bounds)


_COMPILED: dict[tuple, tuple[Any, int]] = {}

# Every program reports progress through ``_PROGRESS`` (one host callback per evaluation point,
# forwarded to the call's own callback, if any), so calls with and without a progress display
# share one program.
_PROGRESS = ProgressRelay()


def _compiled(config, params, approval, kind, horizon, num_updates):
    """``jit(vmap(train))`` and its update count, reused within a process for identical
    settings (compiling takes 10-15 s on the 2-core machine; running a tiny config, well under
    one)."""
    program = dataclasses.replace(config, total_steps=2)  # the budget is num_updates
    key = (program, json.dumps(loan.env_settings(params)), kind, horizon, num_updates)
    if key in _COMPILED:
        return _COMPILED[key]
    train = make_train(config, params, approval, horizon, num_updates, _PROGRESS)
    entry = (jax.jit(jax.vmap(train)), train.updates)
    if len(_COMPILED) >= 8:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[key] = entry
    return entry


def planned_steps(config: LoanPGConfig) -> int:
    """Environment steps a run of ``config`` really makes (whole updates and chunks)."""
    return planned_updates(config) * 2 * config.batch_size


def summarize(
    out: dict[str, Any],
    params: loan.LoanParams,
    config: LoanPGConfig,
    approval: str,
    horizon: int | None,
    seed_list: list[int],
    wall: float,
    updates: int,
    bounds: bool = True,
) -> dict[str, Any]:
    """The run JSON from the device outputs of ``jax.vmap(train)``."""
    final = jax.device_get(out["final"])
    curve = jax.device_get(out["curve"])
    env_steps = int(updates) * config.batch_size * 2
    per_seed = []
    for i, seed in enumerate(seed_list):
        row = {name: float(final[name][i]) for name in METRICS}
        row["seed"] = int(seed)
        per_seed.append(row)
    curve_names = [k for k in curve if k != "updates"]
    result = {
        "final": {name: float(np.mean(final[name])) for name in METRICS},
        "final_ci95": {name: list(bootstrap_ci(np.asarray(final[name]))) for name in METRICS},
        "per_seed": per_seed,
        "steps": env_steps,
        "seeds": len(seed_list),
        "wall_seconds": wall,
        "env_steps_per_second": env_steps * len(seed_list) / wall,
        "curves": {
            "env_steps": [int(u) * config.batch_size * 2 for u in np.asarray(curve["updates"])[0]],
            **{name: np.asarray(curve[name], np.float64).tolist() for name in curve_names},
        },
        "config": {
            "algo": "loan-pg",
            "env": loan.env_settings(params),
            "approval": approval,
            "horizon": horizon,
            "arm": arm_name(approval, horizon),
            "updates": int(updates),
            "seed_list": [int(s) for s in seed_list],
            "loan_pg": config.to_dict(),
        },
    }
    if bounds:
        result["bounds"] = loan.accuracy_bounds(params)
    return result


def arm_name(approval: str, horizon: int | None) -> str:
    """ "ordinary RL" for the full horizon, "MONA" for horizon 1 with an approval."""
    judged = approval != "none"
    if horizon is None or horizon >= 2:
        return "ordinary RL" + ("" if judged else " (no summary reward)")
    return "MONA" if judged else "myopic, no approval"


TABLE_METRICS = (
    "observed_accuracy",
    "unbiased_accuracy",
    "leakage",
    "leakage_mlp",
    "flip_rate",
    "monitor_flag_rate",
    "message_flip_rate",
)
CONTENT_METRICS = ("true_facts", "false_facts", "repeated_facts", "odd_filler", "probe_detection")
"""Where the code lives (message content per greedy message), for a second table."""


def comparison_markdown(
    results: Mapping[str, Mapping[str, Any]], metrics: tuple[str, ...] = TABLE_METRICS
) -> str:
    """A Markdown table: one row per arm, ``mean [95 % CI]`` over seeds for each metric."""
    header = "| arm | seeds | " + " | ".join(m.replace("_", " ") for m in metrics) + " |"
    lines = [header, "|" + "---|" * (len(metrics) + 2)]
    for name, res in results.items():
        cells = []
        for m in metrics:
            lo, hi = res["final_ci95"][m]
            cells.append(f"{res['final'][m]:.3f} [{lo:.3f}, {hi:.3f}]")
        lines.append(f"| {name} | {res['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
