"""Speed of the JAX PPO on the paper's protocol, against the public stack in the same run.

    python benchmarks/bench_ppo.py                      # 2 arms x 10 seeds x 1M steps (~4 min)
    python benchmarks/bench_ppo.py --steps 200000 --seeds 2 --sb3-steps 4096   # quick look
    python benchmarks/bench_ppo.py --workers 1          # the arms one after the other

What it measures (wall clock, compilation included, on whatever machine runs it):
- our PPO, ordinary RL (observed reward, full horizon) and MONA (trusted approval sigma 0,
  M = 1), each ``--seeds`` seeds x ``--steps`` env steps in one jitted, vmapped program, the
  two arms side by side in two threads on a machine with 2 or more CPUs (one program keeps
  about one core busy; ``--workers 1`` runs them one after the other; the numbers are the
  same either way, monarl/parallel.py): env steps/s per run (one seed's steps / the arm's
  wall) and aggregate (all steps of the protocol / its wall), plus the exact final outcome
  fractions with 95 % confidence intervals, so a speed-up never hides a broken result;
- when stable-baselines3 is installed (``pip install 'monarl[sb3]'``): SB3 PPO with the paper's
  hyperparameters (MlpPolicy, one environment, gamma 1.0, entropy 0.05, clip 0.3, learning rate
  5e-5, library defaults otherwise: 2,048-step rollouts, minibatch 64, 10 epochs; one torch
  thread, the faster setting on 2 cores) through our Gymnasium adapter for ``--sb3-steps``
  env steps, alone (the public stack's configuration: one process) and then as one run per
  CPU at once in separate processes (SB3 given the whole machine too); the throughput ratios
  ours (aggregate) / SB3 alone and / SB3's aggregate with every CPU busy.

The machine (CPU count, load average before and after) is printed: on a shared machine other
processes' load slows both measurements, so compare numbers from one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

# No XLA flags are needed: the intermittent hang seen on this machine (block_until_ready never
# returning) was LAPACK's QR, called by the orthogonal initialiser inside the vmapped program;
# monarl.algos.ppo.orthogonal now builds the same matrices without LAPACK (tests/test_no_lapack.py).


def machine() -> dict:
    import jax

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "load_average": list(os.getloadavg()),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def bench_ours(steps: int, seeds: int, workers: int) -> dict:
    from monarl.algos import ppo
    from monarl.runtime.parallel import run_concurrently

    specs = (("ordinary_rl", "none", None), ("mona", "trusted", 1))

    def job(approval, horizon):
        return lambda: ppo.run_ppo(
            approval=approval, noise=0.0, horizon=horizon, seeds=seeds, steps=steps
        )

    started = time.perf_counter()
    results = run_concurrently([job(a, h) for _, a, h in specs], workers=workers)
    protocol_wall = time.perf_counter() - started
    arms = {}
    for (name, _, _), result in zip(specs, results, strict=True):
        per_run = result["steps"] / result["wall_seconds"]
        arms[name] = {
            "wall_seconds": result["wall_seconds"],
            "env_steps_per_second_per_run": per_run,
            "env_steps_per_second": result["env_steps_per_second"],
            "final": result["final"],
            "final_ci95": result["final_ci95"],
            "steps": result["steps"],
            "seeds": result["seeds"],
        }
        f, c = result["final"], result["final_ci95"]
        rate = result["env_steps_per_second"]
        outcome = " ".join(f"{k} {f[k]:.3f}+-{c[k]:.3f}" for k in ("fail", "intended", "hack"))
        head = f"{name:12s} {seeds} seeds x {result['steps']:,} steps"
        print(
            f"{head}: wall {result['wall_seconds']:6.1f} s | {per_run:9,.0f} steps/s per run | "
            f"{rate:9,.0f} steps/s aggregate | {outcome}",
            flush=True,
        )
    total_steps = sum(a["steps"] * a["seeds"] for a in arms.values())
    at_once = min(workers, len(specs))
    side = "side by side" if at_once > 1 else "one after the other"
    print(
        f"protocol     {total_steps:,} env steps in {protocol_wall:.1f} s wall (arms {side}, "
        f"{at_once} at a time): {total_steps / protocol_wall:,.0f} steps/s aggregate",
        flush=True,
    )
    return {
        "arms": arms,
        "arms_at_once": at_once,
        "total_env_steps": total_steps,
        "total_wall_seconds": protocol_wall,
        "env_steps_per_second": total_steps / protocol_wall,
    }


def _sb3_learn(steps: int) -> dict:
    """One SB3 PPO run with the paper's settings through our Gymnasium adapter (module level,
    so a process pool can run several at once)."""
    import torch
    from stable_baselines3 import PPO

    from monarl.envs.gymnasium import CameraDropboxGymEnv

    torch.set_num_threads(1)
    env = CameraDropboxGymEnv()
    model = PPO(
        "MlpPolicy",
        env,
        gamma=1.0,
        ent_coef=0.05,
        clip_range=0.3,
        learning_rate=5e-5,
        seed=0,
        device="cpu",
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - started
    return {"env_steps": int(model.num_timesteps), "wall_seconds": wall}


def bench_sb3(steps: int, processes: int) -> dict | None:
    """SB3 alone (one process: the public stack's configuration), then ``processes`` runs at
    once in separate processes (how someone would use the whole machine with it)."""
    try:
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        print(
            "stable-baselines3 not installed (pip install 'monarl[sb3]'): SB3 comparison skipped",
            flush=True,
        )
        return None
    alone = _sb3_learn(steps)
    rate = alone["env_steps"] / alone["wall_seconds"]
    print(
        f"sb3 (paper)  1 seed x {alone['env_steps']:,} steps: wall {alone['wall_seconds']:6.1f} s "
        f"| {rate:9,.0f} steps/s (one process, one torch thread)",
        flush=True,
    )
    out = {**alone, "env_steps_per_second": rate}
    if processes > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            runs = pool.map(_sb3_learn, [steps] * processes)
        done = sum(r["env_steps"] for r in runs)
        wall = max(r["wall_seconds"] for r in runs)
        out["parallel"] = {
            "processes": processes,
            "env_steps": done,
            "wall_seconds": wall,
            "env_steps_per_second": done / wall,
        }
        print(
            f"sb3 (paper)  {processes} seeds at once in {processes} processes: "
            f"{done / wall:9,.0f} steps/s aggregate",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per seed")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per arm")
    parser.add_argument(
        "--sb3-steps",
        type=int,
        default=20_480,
        help="SB3 env steps (a multiple of its 2,048-step rollout)",
    )
    parser.add_argument("--no-sb3", action="store_true", help="skip the SB3 comparison")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="arms trained at once (default: one per CPU; 1 = one after the other)",
    )
    parser.add_argument("--json", default=None, help="write the numbers to this file")
    args = parser.parse_args(argv)
    from monarl.runtime.parallel import default_workers

    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        parser.error(f"--workers {workers}: must be >= 1")

    info = machine()
    print(
        f"machine: {info['processor']}, {info['cpus']} CPUs, {info['platform']}, "
        f"jax {info['jax']} ({info['backend']}), load average {info['load_average']}",
        flush=True,
    )
    started = time.perf_counter()
    ours = bench_ours(args.steps, args.seeds, workers)
    sb3 = None if args.no_sb3 else bench_sb3(args.sb3_steps, default_workers())
    out = {"machine": info, "ours": ours, "sb3": sb3}
    if sb3 is not None:
        ratio = ours["env_steps_per_second"] / sb3["env_steps_per_second"]
        out["ratio_aggregate_over_sb3"] = ratio
        print(f"ratio        ours (aggregate) / SB3 (one process) = {ratio:,.0f}x", flush=True)
        if "parallel" in sb3:
            both = ours["env_steps_per_second"] / sb3["parallel"]["env_steps_per_second"]
            out["ratio_aggregate_over_sb3_parallel"] = both
            print(
                f"ratio        ours (aggregate) / SB3 ({sb3['parallel']['processes']} processes "
                f"at once, aggregate) = {both:,.0f}x",
                flush=True,
            )
    out["load_average_after"] = list(os.getloadavg())
    out["bench_wall_seconds"] = time.perf_counter() - started
    print(f"load average after: {out['load_average_after']}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
