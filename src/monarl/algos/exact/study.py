"""The exact horizon study: solve Camera Dropbox for every optimization horizon M and evaluate.

This is the library function behind ``monarl solve`` and the exact-solver runs of experiments.
It builds the training reward from the two MONA knobs (the approval, or the bare reward
without one; then the horizon), solves exactly for each horizon and noise seed, and returns the
JSON shape documented in the README (per horizon: mean fractions fail / intended / hack,
expected observed and true returns, and the same per seed).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from monarl.approval import build_approval, trusted
from monarl.core.config import ApprovalConfig, ConfigError, EnvConfig, check_reward
from monarl.envs.camera_dropbox.tables import TabularEnv, compile_camera_dropbox
from monarl.tabular import value_iteration as vi

MEMORY_BUDGET_BYTES = 512 * 2**20  # per batch of noise seeds solved together

_TABLE_CACHE: dict[EnvConfig, TabularEnv] = {}
_VALUES_CACHE: dict[EnvConfig, np.ndarray] = {}


def tables_for(env: EnvConfig) -> TabularEnv:
    """Compiled tables for an environment config (cached per process: they are immutable)."""
    if env not in _TABLE_CACHE:
        _TABLE_CACHE[env] = compile_camera_dropbox(env.make_params())
    return _TABLE_CACHE[env]


def trusted_values_for(env: EnvConfig) -> np.ndarray:
    """The trusted overseer's values V_trusted[t, s] for an environment config, cached per
    process like the tables (read-only). A sweep of short exact runs would otherwise repeat
    the same value iteration in every run (about a third of a paper-board run's time)."""
    if env not in _VALUES_CACHE:
        values = trusted.trusted_values(tables_for(env))
        values.setflags(write=False)
        _VALUES_CACHE[env] = values
    return _VALUES_CACHE[env]


def training_reward(tables: TabularEnv, reward: str, approval: ApprovalConfig, seed: int,
                    values: np.ndarray | None = None) -> np.ndarray:
    """[T, S, A] training reward: the approval when there is one, else the bare ``reward``.

    An approval already contains the step's observed reward (reference.md section 3:
    ``R_obs(s') + V(t+1, s') - V(t, s)``, 0 at the last step), so it *is* MONA's training reward,
    as in the public code; adding the observed reward again would count it twice.
    """
    check_reward(reward, approval)
    table = build_approval(tables, approval, seed, trusted_values=values)
    if table is not None:
        return table
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


def learned_quality(tables: TabularEnv, learned_table: np.ndarray, approval: ApprovalConfig,
                    seed: int, values: np.ndarray, train_reward: np.ndarray) -> dict[str, float]:
    """How close a learned approval is to the exact one it was trained from: rank correlation
    and error over reachable steps, and error on the steps its own M = 1 policy visits."""
    from monarl.approval.learned import approval_quality

    exact = trusted.trusted_approval(tables, approval.noise, seed, approval.noise_per,
                                     values=values)
    policy = vi.solve(tables, train_reward, 1, seeds=seed)[0]
    return approval_quality(tables, learned_table, exact, policy)


def baselines(tables: TabularEnv) -> dict[str, dict[str, float]]:
    """Ordinary RL (observed reward, full horizon) and the true-reward optimum, for reference
    lines in plots and reports (both solved exactly, first-action tie-breaking)."""
    out = {}
    for name, reward in (("ordinary_rl", "observed"), ("true_optimum", "true")):
        per_step = np.broadcast_to(tables.reward_table(reward),
                                   (tables.max_steps,) + tables.next_state.shape)
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
    check_reward(reward, approval)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is invalid: must be an integer >= 1")
    if tie_break not in vi.TIE_BREAKS:
        raise ConfigError(f"tie_break={tie_break!r} is invalid: allowed are "
                          f"{', '.join(vi.TIE_BREAKS)}")
    if window not in vi.WINDOWS:
        raise ConfigError(f"window={window!r} is invalid: allowed are {', '.join(vi.WINDOWS)}")
    started = time.perf_counter()
    tables = tables_for(env)
    values = trusted_values_for(env) if approval.kind != "none" else None
    seed_list = list(range(seed_offset, seed_offset + seeds))
    per_seed_bytes = tables.max_steps * tables.num_states * tables.num_actions * 8 * 3
    chunk = max(1, MEMORY_BUDGET_BYTES // per_seed_bytes)
    parts, quality = [], []
    for start in range(0, len(seed_list), chunk):
        batch_seeds = seed_list[start:start + chunk]
        rows = []
        for seed in batch_seeds:
            rows.append(training_reward(tables, reward, approval, seed, values))
            if approval.kind == "learned":  # the training reward is the learned approval
                quality.append(learned_quality(tables, rows[-1], approval, seed, values,
                                               rows[-1]))
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
        "initial_states": int(len(tables.initial)), "hack_free": env.hack_free,
        "reward": reward, "approval": approval.kind, "noise": approval.noise,
        "noise_per": approval.noise_per, "seeds": seeds, "seed_offset": seed_offset,
        "tie_break": tie_break, "window": window, "results": results,
    }
    if quality:
        out["approval_quality"] = {
            "per_seed": quality,
            **{k: float(np.mean([q[k] for q in quality])) for k in quality[0]}}
    if with_baselines:
        out["baselines"] = baselines(tables)
    out["wall_seconds"] = time.perf_counter() - started
    return out
