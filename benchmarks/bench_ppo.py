"""Speed of the JAX PPO on the paper's protocol, against the public stack in the same run.

    python benchmarks/bench_ppo.py                      # 2 arms x 10 seeds x 1M steps (~4 min)
    python benchmarks/bench_ppo.py --steps 200000 --seeds 2 --sb3-steps 4096   # quick look

What it measures (wall clock, compilation included, on whatever machine runs it):
- our PPO, ordinary RL (observed reward, full horizon) and MONA (trusted approval sigma 0,
  M = 1), each ``--seeds`` seeds x ``--steps`` env steps in one jitted, vmapped program: env
  steps/s per run (one seed's steps / wall) and aggregate (all seeds), plus the exact final
  outcome fractions with 95 % confidence intervals, so a speed-up never hides a broken result;
- when stable-baselines3 is installed (``pip install 'monarl[sb3]'``): SB3 PPO with the paper's
  hyperparameters (MlpPolicy, one environment, gamma 1.0, entropy 0.05, clip 0.3, learning rate
  5e-5, library defaults otherwise: 2,048-step rollouts, minibatch 64, 10 epochs; one torch
  thread, the faster setting on 2 cores) through our Gymnasium adapter for ``--sb3-steps``
  env steps, and the throughput ratio ours (aggregate) / SB3.

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


def bench_ours(steps: int, seeds: int) -> dict:
    from monarl.algos import ppo

    arms = {}
    for name, approval, horizon in (("ordinary_rl", "none", None), ("mona", "trusted", 1)):
        result = ppo.run_ppo(
            approval=approval, noise=0.0, horizon=horizon, seeds=seeds, steps=steps
        )
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
    total_wall = sum(a["wall_seconds"] for a in arms.values())
    print(
        f"protocol     {total_steps:,} env steps in {total_wall:.1f} s wall: "
        f"{total_steps / total_wall:,.0f} steps/s aggregate",
        flush=True,
    )
    return {
        "arms": arms,
        "total_env_steps": total_steps,
        "total_wall_seconds": total_wall,
        "env_steps_per_second": total_steps / total_wall,
    }


def bench_sb3(steps: int) -> dict | None:
    try:
        import torch
        from stable_baselines3 import PPO
    except ImportError:
        print(
            "stable-baselines3 not installed (pip install 'monarl[sb3]'): SB3 comparison skipped",
            flush=True,
        )
        return None
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
    done = int(model.num_timesteps)
    rate = done / wall
    print(
        f"sb3 (paper)  1 seed x {done:,} steps: wall {wall:6.1f} s | {rate:9,.0f} steps/s "
        "(one torch thread)",
        flush=True,
    )
    return {"env_steps": done, "wall_seconds": wall, "env_steps_per_second": rate}


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
    parser.add_argument("--json", default=None, help="write the numbers to this file")
    args = parser.parse_args(argv)

    info = machine()
    print(
        f"machine: {info['processor']}, {info['cpus']} CPUs, {info['platform']}, "
        f"jax {info['jax']} ({info['backend']}), load average {info['load_average']}",
        flush=True,
    )
    started = time.perf_counter()
    ours = bench_ours(args.steps, args.seeds)
    sb3 = None if args.no_sb3 else bench_sb3(args.sb3_steps)
    out = {"machine": info, "ours": ours, "sb3": sb3}
    if sb3 is not None:
        ratio = ours["env_steps_per_second"] / sb3["env_steps_per_second"]
        out["ratio_aggregate_over_sb3"] = ratio
        print(f"ratio        ours (aggregate) / SB3 = {ratio:,.0f}x", flush=True)
    out["load_average_after"] = list(os.getloadavg())
    out["bench_wall_seconds"] = time.perf_counter() - started
    print(f"load average after: {out['load_average_after']}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
