"""Overhead of the experiment system (run store + executor) on a 100-run exact-solver sweep.

Same process, same runs, measured one after the other (JIT compiled once beforehand):

1. ``loop``: ``exact_study`` called directly once per run (one seed, one horizon), results kept
   in memory: what a script without the experiment system does;
2. ``batched``: ``exact_study`` called directly once per configuration with all its seeds,
   exactly the calls the sweep makes: the strict baseline;
3. ``sweep``: ``run_sweep`` into a fresh store, tasks in the sweep process (``--workers 1``,
   what the default picks for a sweep of this size): planning, claims (run directory, locked
   config.json), the summaries (temp file, sync, rename; committed by a writer thread while the
   next task solves) and the event log on top of (2);
4. ``sweep-2proc``: the same with a pool of 2 fresh worker processes (each imports JAX, builds
   tables and compiles), for reference.

Overhead = sweep / baseline - 1. The target (issue 3) is < 5 % against ``batched``.

    python benchmarks/bench_sweep.py [--repeats 3] [--board paper|hard] [--dir DIR]

Stores go to a temporary folder under ``--dir`` (default: the current directory; try a tmpfs
such as /dev/shm to see the store's own cost without the disk's) and are all removed only at
the end: ext4 without a journal skips inodes deleted in the last 1-6 minutes when it allocates
one (``recently_deleted`` in the kernel), so removing a store between repeats made the next
repeat's file creations several times slower. The cost of creating a directory and a file is
printed before and after, because it also depends on what the machine deleted recently (a test
suite run just before raises it several-fold).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from monarl.algos.exact.study import exact_study
from monarl.approval import ApprovalConfig
from monarl.envs import EnvConfig
from monarl.experiments import sweep as sweep_mod
from monarl.experiments.spec import parse_sweep
from monarl.experiments.store import Store
from monarl.runtime.provenance import describe_machine

NOISES = [round(0.1 * i, 1) for i in range(10)]
HORIZON = 8
SEEDS = 10

BOARDS = {
    "paper": {},
    "hard": {"boxes": 3, "blockers": 2, "max_steps": 60},
}


def spec_text(board: dict) -> str:
    env = "".join(f"{k} = {v}\n" for k, v in board.items())
    return f"""
name = "bench-sweep"
[base]
algo = "exact"
horizon = {HORIZON}
seeds = {SEEDS}
[base.env]
{env}
[base.approval]
kind = "trusted"
[sweep]
"approval.noise" = {NOISES}
"""


def loop(env: EnvConfig) -> list:
    out = []
    for noise in NOISES:
        approval = ApprovalConfig.of("trusted", noise=noise)
        for seed in range(SEEDS):
            out.append(
                exact_study(
                    env, approval, [HORIZON], seeds=1, seed_offset=seed, with_baselines=False
                )
            )
    return out


def batched(env: EnvConfig) -> list:
    return [
        exact_study(
            env,
            ApprovalConfig.of("trusted", noise=noise),
            [HORIZON],
            seeds=SEEDS,
            with_baselines=False,
        )
        for noise in NOISES
    ]


def sweep(text: str, workers: int, root: Path, inside: list[float] | None = None) -> float:
    """One 100-run sweep into a fresh store under ``root`` (left in place: see main); appends
    to ``inside`` the seconds the solver calls took inside it (from the summaries)."""
    tmp = Path(tempfile.mkdtemp(dir=root))
    spec = parse_sweep(text, tmp / "bench.toml")
    assert len(spec.runs) == len(NOISES) * SEEDS == 100
    started = time.perf_counter()
    outcome = sweep_mod.run_sweep(
        spec, Store(tmp / "store"), sweep_mod.local_factory(workers), quiet=True
    )
    wall = time.perf_counter() - started
    assert outcome.ok and outcome.done_here == 100, outcome
    if inside is not None:
        summaries = (tmp / "store" / "runs").glob("*/summary.json")
        inside.append(sum(json.loads(p.read_text())["wall_seconds"] for p in summaries))
    return wall


def create_cost(root: Path, n: int = 200) -> float:
    """Milliseconds to create one directory with one small file in it, here and now."""
    tmp = Path(tempfile.mkdtemp(dir=root))
    started = time.perf_counter()
    for i in range(n):
        (tmp / str(i)).mkdir()
        (tmp / str(i) / "f").write_bytes(b"x" * 512)
    return (time.perf_counter() - started) / n * 1000


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--board", choices=sorted(BOARDS), default="paper")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where the stores go")
    args = parser.parse_args()
    if not args.dir.is_dir():
        parser.error(f"--dir {args.dir}: no such directory")
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        measure(args, Path(root))


def measure(args: argparse.Namespace, root: Path) -> None:
    board = BOARDS[args.board]
    env = EnvConfig.of(**board)
    text = spec_text(board)
    # warm up: tables, trusted values and both JIT shapes (1 seed, 10 seeds)
    exact_study(
        env, ApprovalConfig.of("trusted", noise=0.5), [HORIZON], seeds=1, with_baselines=False
    )
    exact_study(
        env, ApprovalConfig.of("trusted", noise=0.5), [HORIZON], seeds=SEEDS, with_baselines=False
    )
    creates_before = create_cost(root)
    times: dict[str, list[float]] = {"loop": [], "batched": [], "sweep": []}
    inside: list[float] = []
    for _ in range(args.repeats):  # interleaved, so drift hits every variant alike
        times["loop"].append(timed(loop, env))
        times["batched"].append(timed(batched, env))
        times["sweep"].append(sweep(text, 1, root, inside))
    med = {k: statistics.median(v) for k, v in times.items()}
    # Paired: each repeat's sweep against the batched call timed just before it, so slow drift
    # of the shared machine (which moves single timings by +-15 % here) cancels.
    ratios = sorted(s / b for s, b in zip(times["sweep"], times["batched"], strict=True))
    med["sweep-2proc"] = sweep(text, 2, root)
    creates_after = create_cost(root)
    print(
        f"100-run exact sweep ({args.board} board: {env.rows}x{env.cols}, {env.boxes} boxes, "
        f"{len(NOISES)} noise levels x {SEEDS} seeds, M = {HORIZON}); "
        f"median of {args.repeats}; {describe_machine()}"
    )
    print(
        f"  stores under {args.dir.absolute()}: creating a directory + a file costs "
        f"{creates_before:.3f} ms before, {creates_after:.3f} ms after (a run creates a "
        "directory and two files)"
    )
    for name, wall in med.items():
        print(f"  {name:12s} {wall:7.3f} s   {wall / 100 * 1000:6.2f} ms/run")
    strict = statistics.median(ratios) - 1
    quart = (ratios[len(ratios) // 4] - 1, ratios[(3 * len(ratios)) // 4] - 1)
    print(
        f"  overhead of store + executor vs batched direct calls: {strict:+.1%} median of "
        f"{len(ratios)} paired repeats (quartiles {quart[0]:+.1%}, {quart[1]:+.1%}; "
        f"{(med['sweep'] - med['batched']) / 100 * 1000:.2f} ms/run from the medians; "
        "target < 5 %)"
    )
    own = sorted(w / c - 1 for w, c in zip(times["sweep"], inside, strict=True))
    print(
        f"  inside each sweep: the solver calls took {statistics.median(inside):.3f} s, the "
        f"rest (store, executor, planning) adds {statistics.median(own):+.1%} median "
        f"(quartiles {own[len(own) // 4]:+.1%}, {own[(3 * len(own)) // 4]:+.1%}; "
        f"{statistics.median(w - c for w, c in zip(times['sweep'], inside, strict=True)) * 10:.2f}"
        " ms/run; target < 5 %)"
    )
    print(f"  sweep vs a direct per-run loop: ratio {med['sweep'] / med['loop']:.3f}")
    print(
        f"  2 worker processes (cold start) vs batched: ratio "
        f"{med['sweep-2proc'] / med['batched']:.3f}"
    )


if __name__ == "__main__":
    main()
