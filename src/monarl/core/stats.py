"""Confidence intervals over seeds: every mean monarl reports comes with one.

- :func:`bootstrap_ci`: percentile bootstrap of the mean (reports, curves, the loan trainer);
- :func:`diff_ci`: the same for a difference of two arms' means, resampling each arm's seeds
  (alignment tax, ordinary RL - MONA);
- :func:`t_half_width`: the Student-t half-width (``monarl train --json`` of PPO).
"""

from __future__ import annotations

import math

import numpy as np

_T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
          9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
          17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}


def bootstrap_ci(samples: np.ndarray, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean over the first axis (seeds)."""
    samples = np.asarray(samples, np.float64)
    if samples.size == 0:
        return (float("nan"), float("nan"))
    if samples.size == 1 or np.all(samples == samples[0]):
        return (float(samples.mean()), float(samples.mean()))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(samples), size=(resamples, len(samples)))
    means = samples[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def diff_ci(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0
            ) -> tuple[float, float, float]:
    """mean(a) - mean(b) with a percentile-bootstrap CI resampling each arm's seeds."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), (resamples, len(a)))].mean(axis=1)
    db = b[rng.integers(0, len(b), (resamples, len(b)))].mean(axis=1)
    diffs = da - db
    return (float(a.mean() - b.mean()), float(np.quantile(diffs, 0.025)),
            float(np.quantile(diffs, 0.975)))


def t_half_width(values: np.ndarray) -> float:
    """Half-width of the 95 % Student-t confidence interval of the mean (0 for one value)."""
    values = np.asarray(values, np.float64)
    n = len(values)
    if n < 2:
        return 0.0
    df = n - 1
    crit = _T_975.get(df) or (_T_975[max(k for k in _T_975 if k <= df)] if df < 30 else 1.96)
    return float(crit * values.std(ddof=1) / math.sqrt(n))
