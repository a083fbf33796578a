"""The exact horizon study: solve an environment with tables for every optimization horizon M.

This is the library function behind ``monarl solve`` and the exact solver's runs in
experiments. It builds the training reward from the two MONA knobs (the approval's table, or
the bare reward without one; then the horizon), solves exactly for each horizon and seed, and
returns the JSON shape documented in the README (per horizon: mean outcome fractions, expected
observed and true returns, and the same per seed).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from monarl.algos import TRAINERS
from monarl.algos.check import check
from monarl.approval import ApprovalConfig, build
from monarl.approval.base import Approval, BuildContext
from monarl.core.config import ConfigError, check_reward
from monarl.envs import EnvConfig
from monarl.tabular import value_iteration as vi
from monarl.tabular.tables import Tables

MEMORY_BUDGET_BYTES = 512 * 2**20  # per batch of noise seeds solved together


def build_approval(env: EnvConfig, approval: ApprovalConfig, seeds: list[int]
                   ) -> Approval | None:
    """The approval of a run of the exact solver (its table face), or None for ``none``."""
    ctx = BuildContext(env.spec, env.settings, env.params(), env.tables(), list(seeds))
    built = build(approval, ctx)
    if built is not None and built.table(seeds[0]) is None:
        raise ConfigError(f"approval {approval.kind!r} has no [T, S, A] table, so the exact "
                          "solver cannot train on it")
    return built


def training_reward(tables: Tables, reward: str, approval: Approval | None,
                    seed: int) -> np.ndarray:
    """[T, S, A] training reward: the approval when there is one, else the bare ``reward``.

    An approval already contains the step's observed reward (reference.md section 3:
    ``R_obs(s') + V(t+1, s') - V(t, s)``, 0 at the last step), so it *is* MONA's training
    reward, as in the public code; adding the observed reward again would count it twice.
    """
    if approval is not None:
        return approval.table(seed)
    base = tables.reward_table(reward)
    return np.broadcast_to(base, (tables.max_steps,) + base.shape)


def _summary(fractions: np.ndarray, observed: np.ndarray, true: np.ndarray, length: np.ndarray,
             outcomes: tuple[str, ...]) -> dict[str, Any]:
    """Mean over seeds plus the per-seed rows for one horizon."""
    per_seed = []
    for i in range(fractions.shape[0]):
        row = {name: float(fractions[i, k]) for k, name in enumerate(outcomes)}
        row.update(observed_return=float(observed[i]), true_return=float(true[i]),
                   episode_length=float(length[i]))
        per_seed.append(row)
    mean = {name: float(fractions[:, k].mean()) for k, name in enumerate(outcomes)}
    mean.update(observed_return=float(observed.mean()), true_return=float(true.mean()),
                episode_length=float(length.mean()))
    return {**mean, "per_seed": per_seed}


def baselines(tables: Tables) -> dict[str, dict[str, float]]:
    """Ordinary RL (observed reward, full horizon) and the true-reward optimum, for reference
    lines in plots and reports (both solved exactly, first-action tie-breaking)."""
    out = {}
    for name, reward in (("ordinary_rl", "observed"), ("true_optimum", "true")):
        per_step = np.broadcast_to(tables.reward_table(reward),
                                   (tables.max_steps, tables.num_states, tables.num_actions))
        res = vi.horizon_sweep(tables, per_step, [None], seeds=0)
        summary = _summary(res["fractions"][0], res["observed_return"][0], res["true_return"][0],
                           res["episode_length"][0], tables.outcomes)
        summary.pop("per_seed")
        out[name] = summary
    return out


def exact_study(env: EnvConfig, approval: ApprovalConfig, horizons: list[int | None],
                seeds: int = 1, reward: str = "observed", tie_break: str = "random",
                window: str = "optimal", seed_offset: int = 0,
                with_baselines: bool = True) -> dict[str, Any]:
    """Solve and evaluate every horizon for ``seeds`` noise/tie seeds; returns the JSON shape."""
    check_reward(reward, approval.kind)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is invalid: must be an integer >= 1")
    if tie_break not in vi.TIE_BREAKS:
        raise ConfigError(f"tie_break={tie_break!r} is invalid: allowed are "
                          f"{', '.join(vi.TIE_BREAKS)}")
    if window not in vi.WINDOWS:
        raise ConfigError(f"window={window!r} is invalid: allowed are {', '.join(vi.WINDOWS)}")
    check(env, approval, TRAINERS.get("exact"))
    started = time.perf_counter()
    tables = env.tables()
    seed_list = list(range(seed_offset, seed_offset + seeds))
    built = build_approval(env, approval, seed_list)
    measured = built is not None and built.measured
    per_seed_bytes = tables.max_steps * tables.num_states * tables.num_actions * 8 * 3
    chunk = max(1, MEMORY_BUDGET_BYTES // per_seed_bytes)
    parts, quality = [], []
    for start in range(0, len(seed_list), chunk):
        batch_seeds = seed_list[start:start + chunk]
        rows = []
        for seed in batch_seeds:
            rows.append(training_reward(tables, reward, built, seed))
            if measured:  # against the exact approval, on the steps its M = 1 policy takes
                policy = vi.solve(tables, rows[-1], 1, seeds=seed)[0]
                quality.append(built.quality(seed_list.index(seed), policy))
        parts.append(vi.horizon_sweep(tables, np.stack(rows), horizons, np.asarray(batch_seeds),
                                      tie_break=tie_break, window=window))
    merged = {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}
    results = []
    for i, horizon in enumerate(horizons):
        row = {"horizon": horizon}
        row.update(_summary(merged["fractions"][i], merged["observed_return"][i],
                            merged["true_return"][i], merged["episode_length"][i],
                            tables.outcomes))
        results.append(row)
    out: dict[str, Any] = {
        "env": dict(tables.settings), "states": tables.num_states,
        "initial_states": int(len(tables.initial)), "hack_free": env.is_control,
        "reward": reward, "approval": approval.kind,
        "noise": approval.setting("noise", 0.0),
        "noise_per": approval.setting("noise_per", "state"), "seeds": seeds,
        "seed_offset": seed_offset, "tie_break": tie_break, "window": window,
        "results": results,
    }
    if quality:
        out["approval_quality"] = {
            "per_seed": quality,
            **{k: float(np.mean([q[k] for q in quality])) for k in quality[0]}}
    if with_baselines:
        out["baselines"] = baselines(tables)
    out["wall_seconds"] = time.perf_counter() - started
    return out
