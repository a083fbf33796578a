"""Overhead per program of the sandbox for model-written code (issue 16).

Run: ``python benchmarks/bench_sandbox.py`` (``--runs N`` programs per arm, default 60;
``--json PATH`` also writes the numbers to a file). Every arm runs the trivial program
``pass``, interleaved (one run of each arm in turn) so that a load change on the machine hits
all arms alike:

- ``baseline``: ``python3 -I -S -c pass`` started with ``subprocess.run``: the floor any
  sandbox that starts a fresh interpreter pays;
- ``bubblewrap``: ``run_python("pass", isolation="bubblewrap")`` (setpriv, bwrap with every
  namespace, prlimit, the system Python), skipped where bubblewrap cannot run;
- ``subprocess``: ``run_python("pass", isolation="subprocess")``, the fallback.

Printed: a table of median, mean and 90th-percentile wall milliseconds per program and the
median overhead over the baseline, the issue's target (<= 25 ms per program under bubblewrap on
the 2-core machine), and one JSON line with the same numbers. ``--many`` also times
``run_many`` of the same programs with two workers (programs per second).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_MS = 25.0


def _stats(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {"median_ms": round(statistics.median(ms), 2), "mean_ms": round(statistics.fmean(ms), 2),
            "p90_ms": round(ms[min(len(ms) - 1, int(0.9 * len(ms)))], 2), "runs": len(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="programs per arm")
    parser.add_argument("--many", action="store_true", help="also time run_many, 2 workers")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be >= 1")

    from monarl.runtime.provenance import cpu_model
    from monarl.sandbox import SandboxLimits, bubblewrap_problem, run_many, run_python
    from monarl.sandbox.bubblewrap import system_python

    python = system_python() or sys.executable
    limits = SandboxLimits(timeout_seconds=10.0)
    problem = bubblewrap_problem()
    arms = {"baseline": lambda: subprocess.run([python, "-I", "-S", "-c", "pass"], check=True)}
    if problem is None:
        arms["bubblewrap"] = lambda: _check(run_python("pass", limits=limits,
                                                       isolation="bubblewrap"))
    arms["subprocess"] = lambda: _check(run_python("pass", limits=limits,
                                                   isolation="subprocess"))
    for run in arms.values():  # warm caches (and print the fallback's warning) before timing
        run()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(args.runs):
        for name, run in arms.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    results = {name: _stats(values) for name, values in times.items()}
    base = results["baseline"]["median_ms"]
    for record in results.values():
        record["overhead_ms"] = round(record["median_ms"] - base, 2)

    debian = Path("/etc/debian_version")
    machine = (f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.platform()}"
               + (f", Debian {debian.read_text().strip()}" if debian.exists() else ""))
    print(f"machine: {machine}; running as {'root' if os.geteuid() == 0 else 'a user'}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"python in the sandbox: {python}")
    if problem is not None:
        print(f"bubblewrap skipped: {problem}")
    print(f"\n{'arm':12s} {'median ms':>10s} {'mean ms':>9s} {'p90 ms':>8s} {'over base':>10s}")
    for name, record in results.items():
        print(f"{name:12s} {record['median_ms']:10.2f} {record['mean_ms']:9.2f} "
              f"{record['p90_ms']:8.2f} {record['overhead_ms']:+10.2f}")
    payload = {"bench": "sandbox", "machine": machine, "python": python, "runs": args.runs,
               "arms": results, "target_ms": TARGET_MS, "bubblewrap_problem": problem}
    if "bubblewrap" in results:
        median = results["bubblewrap"]["median_ms"]
        verdict = "within" if median <= TARGET_MS else "OVER"
        print(f"\nbubblewrap: {median:.1f} ms per program, {verdict} the {TARGET_MS:.0f} ms "
              f"target")
        payload["within_target"] = median <= TARGET_MS
    if args.many:
        for mode in ("bubblewrap", "subprocess"):
            if mode not in results:
                continue
            started = time.perf_counter()
            done = run_many(["pass"] * args.runs, limits=limits, isolation=mode, workers=2)
            wall = time.perf_counter() - started
            assert all(r.ok for r in done)
            payload[f"run_many_{mode}_per_second"] = round(args.runs / wall, 1)
            print(f"run_many ({mode}, 2 workers): {args.runs / wall:.1f} programs/s")
    print(json.dumps(payload))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")


def _check(result) -> None:
    if not result.ok:
        raise SystemExit(f"the sandbox failed on 'pass': {result.status}: {result.stderr}")


if __name__ == "__main__":
    main()
