"""The noisy overseer (sigma 0.5) against reference.md section 4, with a 10-seed mean's spread.

The reference's sigma 0.5 column is a mean over 10 noise seeds. At M >= 12 each seed is nearly
all-intended or all-hack, so a 10-seed mean moves a lot from one set of seeds to another. This
script solves 200 seeds, prints their mean, and the range that 95 % of the means of 10 seeds
drawn from them fall in (4,000 draws without replacement, fixed RNG), next to the reference.

    python examples/noisy_reference_check.py [--seeds 200]      # ~30 s on 2 CPU cores
"""

from __future__ import annotations

import argparse

import numpy as np

from monarl.algos.exact.study import exact_study
from monarl.approval import ApprovalConfig
from monarl.envs import EnvConfig
from monarl.experiments.reproduce import REFERENCE_VI

OUTCOMES = ("fail", "intended", "hack")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--draws", type=int, default=4000)
    args = parser.parse_args()
    reference = REFERENCE_VI[0.5]
    study = exact_study(EnvConfig.of(), ApprovalConfig.of("trusted", noise=0.5),
                        list(reference), seeds=args.seeds, with_baselines=False)
    rng = np.random.default_rng(0)
    print(f"| M | reference (10 seeds) | monarl, {args.seeds} seeds | 95 % range of a 10-seed "
          "mean (intended) | reference inside |")
    print("|---|---|---|---|---|")
    for row in study["results"]:
        per_seed = np.array([[s[k] for k in OUTCOMES] for s in row["per_seed"]])
        draws = [per_seed[rng.choice(len(per_seed), 10, replace=False), 1].mean()
                 for _ in range(args.draws)]
        lo, hi = np.percentile(draws, [2.5, 97.5])
        ref = reference[row["horizon"]]
        mean = per_seed.mean(axis=0)
        inside = "yes" if lo - 1e-9 <= ref[1] <= hi + 1e-9 else "no"
        print(f"| {row['horizon']} | {' / '.join(f'{v:.2f}' for v in ref)} | "
              f"{' / '.join(f'{v:.2f}' for v in mean)} | {lo:.2f}-{hi:.2f} | {inside} |")


if __name__ == "__main__":
    main()
