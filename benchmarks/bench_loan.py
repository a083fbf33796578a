"""Speed and headline result of the loan-steganography comparison (issue 6).

Run: ``python benchmarks/bench_loan.py`` (the two arms of ``examples/loan_steganography.toml``:
ordinary RL and MONA, 10 seeds each, 20 runs), or with ``--all`` for the arms of
``examples/loan_monitor_variants.toml`` too (ordinary RL without the summary reward, both arms
under probe monitors, the uniform-reference ablation). ``--seeds`` / ``--steps`` override the
files; ``--json PATH`` writes every arm's run JSON (``{arm: result}``) and the timing. The same
arms run through the experiment system with ``monarl sweep FILE`` (a store, a report); this
benchmark skips the store and times each arm's one vmapped call.

Printed: per arm, wall time (JIT compilation included: each arm is one compiled program of
``jax.vmap(train)`` over its seeds), environment steps per second summed over seeds, and the
final metrics with 95 % bootstrap CIs; then the total wall time of the main comparison against
the issue's budget (5 minutes on the 2-core machine) and the accuracy bounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEFAULT_FILE = EXAMPLES / "loan_steganography.toml"
VARIANTS_FILE = EXAMPLES / "loan_monitor_variants.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="experiment file")
    parser.add_argument(
        "--all", action="store_true", help=f"also run the arms of {VARIANTS_FILE.name}"
    )
    parser.add_argument("--arms", default=None, help="comma-separated variant names to run")
    parser.add_argument("--seeds", type=int, default=None, help="override seeds per arm")
    parser.add_argument("--steps", type=int, default=None, help="override env steps per seed")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    args = parser.parse_args()

    from monarl.algos import loan_pg
    from monarl.envs.loan import rules as loan
    from monarl.experiments.arms import load_arms
    from monarl.runtime.provenance import describe_machine

    arms = load_arms(args.file, algo="loan-pg")
    if (args.all or args.arms) and args.file.resolve() != VARIANTS_FILE:
        arms += load_arms(VARIANTS_FILE, algo="loan-pg", main=False)
    if args.arms:
        wanted = args.arms.split(",")
        unknown = sorted(set(wanted) - {a["name"] for a in arms})
        if unknown:
            parser.error(f"--arms: unknown variant {unknown[0]!r}")
        arms = [a for a in arms if a["name"] in wanted]
    for arm in arms:
        if args.seeds is not None:
            arm["seeds"] = args.seeds
        if args.steps is not None:
            arm["steps"] = args.steps
    print(f"machine: {describe_machine()}")
    print(f"file: {args.file}")
    results, timing = {}, {}
    main_wall = 0.0
    for arm in arms:
        started = time.perf_counter()
        res = loan_pg.train_loan(arm["env"], arm["approval"], arm["horizon"], arm["seeds"],
                                 arm["steps"], seed_offset=arm["seed_offset"],
                                 config=arm["config"], bounds=False)
        wall = time.perf_counter() - started
        results[arm["name"]] = res
        timing[arm["name"]] = wall
        if arm["main"]:
            main_wall += wall
        final, ci = res["final"], res["final_ci95"]
        print(
            f"\n{arm['name']}: {res['config']['arm']}, {res['seeds']} seeds x {res['steps']:,} "
            f"steps: {wall:.1f} s wall, {res['env_steps_per_second']:,.0f} env steps/s"
        )
        for name in loan_pg.METRICS:
            lo, hi = ci[name]
            print(f"  {name:20s} {final[name]:.3f}  [{lo:.3f}, {hi:.3f}]")
    params = arms[0]["env"].params()
    bounds = loan.accuracy_bounds(params)
    n_main = sum(a["seeds"] for a in arms if a["main"])
    if n_main:
        print(
            f"\nmain comparison: {n_main} runs in {main_wall:.1f} s "
            f"({'within' if main_wall < 300 else 'OVER'} the 5-minute budget)"
        )
    print("accuracy bounds (Monte Carlo): " + ", ".join(f"{k} {v:.3f}" for k, v in bounds.items()))
    print()
    print(loan_pg.comparison_markdown(results))
    print()
    print(loan_pg.comparison_markdown(results, loan_pg.CONTENT_METRICS))
    if args.json is not None:
        payload = {
            "machine": describe_machine(),
            "file": str(args.file),
            "timing_seconds": timing,
            "main_wall_seconds": main_wall,
            "bounds": bounds,
            "results": results,
            "env": loan.env_settings(params),
            "loan_pg": dataclasses.asdict(arms[0]["config"]),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
