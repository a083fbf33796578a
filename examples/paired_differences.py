"""Per-arm means and the ordinary RL - MONA difference *paired by seed*, from a committed
report's ``report.json`` (its per-seed final values), as a Markdown table.

Why: ``monarl report`` gives each arm's 95 % bootstrap interval over seeds and a difference
interval that resamples each arm's seeds separately (``monarl.core.stats.diff_ci``), which
fits arms whose seeds are unrelated. In the language-model comparisons the two arms of a seed
start from the same pretrained weights, so the seed-wise difference is the sharper statistic;
the docs' tables (docs/llm.md, docs/tdd.md) come from this script, and the committed report
beside them has the per-arm numbers and the unpaired interval.

    python examples/paired_differences.py docs/results/loan_text_tiny/report.json
    python examples/paired_differences.py docs/results/tdd_tiny_soft/report.json \\
        --metrics soft_test_rate own_pass heldout_pass
    python examples/paired_differences.py docs/results/loan_text_inoculation/report.json --swap

The arms are the report's first two conditions (A - B; ``--swap``: B - A); the intervals are
``monarl.core.stats.bootstrap_ci`` (2,000 resamples, seed 0) of A's per-seed values, of B's,
and of the seed-wise differences A - B over the seeds both arms have.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from monarl.core.stats import bootstrap_ci


def _interval(values: np.ndarray, signed: bool = False) -> str:
    lo, hi = bootstrap_ci(values)
    form = "{:+.3f}" if signed else "{:.3f}"
    mean = form.format(float(values.mean()))
    if lo == hi:
        return mean
    return f"{mean} [{form.format(lo)}, {form.format(hi)}]"


def table(report: dict, metrics: list[str] | None, swap: bool = False) -> str:
    """The Markdown table of ``metrics`` (default: every metric both arms have); ``swap``
    makes A the report's second condition and B its first."""
    conditions = report.get("conditions", [])
    if len(conditions) < 2:
        raise ValueError("the report has fewer than two conditions to compare")
    first, second = conditions[:2] if not swap else conditions[1::-1]
    seeds = [s for s in first["seeds"] if s in second["seeds"]]
    if not seeds:
        raise ValueError("the two conditions share no seed: nothing to pair")
    names = metrics or [m for m in first["metrics"] if m in second["metrics"]]
    lines = [f"A = {first['label']}, B = {second['label']}; paired over seeds {seeds}", "",
             "| metric | A | B | A - B (paired by seed) |", "|---|---|---|---|"]
    for name in names:
        if name not in first["metrics"] or name not in second["metrics"]:
            raise ValueError(f"metric {name!r} is not in both conditions; they have "
                             f"{sorted(set(first['metrics']) & set(second['metrics']))}")
        a = dict(zip(first["seeds"], first["metrics"][name]["per_seed"], strict=True))
        b = dict(zip(second["seeds"], second["metrics"][name]["per_seed"], strict=True))
        x = np.array([a[s] for s in seeds], np.float64)
        y = np.array([b[s] for s in seeds], np.float64)
        lines.append(f"| {name} | {_interval(x)} | {_interval(y)} | "
                     f"{_interval(x - y, signed=True)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report.json written by monarl report")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="metrics to show, in order (default: all both arms have)")
    parser.add_argument("--swap", action="store_true",
                        help="A = the second condition, B = the first (B - A of the report)")
    args = parser.parse_args()
    try:
        report = json.loads(args.report.read_text())
        print(table(report, args.metrics, args.swap))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {args.report}: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
