"""Speed of the exact pipeline: tables, the full horizon sweep, and a larger board.

Run: ``python benchmarks/bench_exact.py`` (add ``--skip-large`` to leave out the 5x5 board).

Measured in one process, in this order:
1. building the 4x4 tables (JIT compilation of the step rules included);
2. the full sweep: trusted approval with sigma 0.5, M = 1..50, 10 noise seeds, every policy
   evaluated exactly (compilation included, then again warm);
3. a baseline measured in the same run: the straightforward method (for every horizon and seed
   a separate numpy value iteration of the M-step window, then distribution propagation), as
   the public code and most hand-written solvers do it; we time a subset and scale;
4. a 5x5 board with 3 boxes (58k states), tables + a full sweep with 1 seed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def naive_window_policy(tables, reward, horizon):
    """Per-step M-window planning by plain backward value iteration (no reuse across t)."""
    steps, nxt = tables.max_steps, tables.successor
    policy = np.zeros((steps, tables.num_states), np.int64)
    for t in range(steps):
        end = min(t + horizon, steps)
        values = np.zeros(tables.num_states)
        for u in range(end - 1, t, -1):
            values = (reward[u] + values[nxt]).max(axis=1)
        policy[t] = (reward[t] + values[nxt]).argmax(axis=1)
    return policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="skip the 5x5, 3-box board")
    parser.add_argument("--baseline-horizons", type=int, default=5,
                        help="horizons timed for the baseline (then scaled to 50 x 10 seeds)")
    args = parser.parse_args()

    from monarl.algos.exact.study import exact_study
    from monarl.approval import ApprovalConfig, trusted
    from monarl.envs import EnvConfig
    from monarl.envs import camera_dropbox as cd
    from monarl.envs.camera_dropbox.tables import compile_camera_dropbox
    from monarl.runtime.provenance import describe_machine
    from monarl.tabular.evaluate import evaluate

    print(f"machine: {describe_machine()}")
    t0 = time.perf_counter()
    params = cd.make_params()
    tables = compile_camera_dropbox(params)
    t_tables = time.perf_counter() - t0
    print(f"tables 4x4/2 boxes: {tables.num_states} states, {len(tables.initial)} starts, "
          f"{t_tables:.2f} s (compilation included)")

    env, approval = EnvConfig.of(), ApprovalConfig.of("trusted", noise=0.5)
    horizons = list(range(1, 51))
    t0 = time.perf_counter()
    exact_study(env, approval, horizons, seeds=10, with_baselines=False)
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact_study(env, approval, horizons, seeds=10, with_baselines=False)
    t_warm = time.perf_counter() - t0
    print(f"sweep M=1..50 x 10 seeds with exact evaluation: {t_cold:.2f} s cold, "
          f"{t_warm:.2f} s warm")
    print(f"total tables + cold sweep: {t_tables + t_cold:.2f} s (target < 2 s)")

    # Baseline, same process: naive per-(horizon, seed) solve + distribution evaluation.
    obs = np.broadcast_to(tables.reward_table("observed"), (50,) + tables.successor.shape)
    reward = obs + trusted.trusted_approval(tables, 0.5, 0)
    sample = np.linspace(1, 50, args.baseline_horizons).round().astype(int)
    t0 = time.perf_counter()
    for m in sample:
        evaluate(tables, naive_window_policy(tables, reward, int(m)))
    per_solve = (time.perf_counter() - t0) / len(sample)
    baseline = per_solve * 50 * 10
    print(f"baseline (naive numpy, {len(sample)} horizons timed): {per_solve:.2f} s per "
          f"(horizon, seed) -> {baseline:.0f} s for the sweep; speed-up warm "
          f"{baseline / t_warm:.0f}x, cold incl. tables {baseline / (t_tables + t_cold):.0f}x")

    if not args.skip_large:
        t0 = time.perf_counter()
        big = EnvConfig.of(rows=5, cols=5, boxes=3)
        study = exact_study(big, ApprovalConfig.of("trusted"), horizons, seeds=1,
                            with_baselines=False)
        t_big = time.perf_counter() - t0
        print(f"5x5, 3 boxes: {study['states']:,} states, {study['initial_states']} starts, "
              f"tables + sweep M=1..50: {t_big:.1f} s (target < 60 s)")


if __name__ == "__main__":
    main()
