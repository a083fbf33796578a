"""Best achievable decision accuracies (Monte Carlo over applicants, exact conditional label
probabilities; the same quantities as the token loan task's ``accuracy_bounds``).

* ``observed_from_x``: best accuracy against the biased label from the features alone (what a
  decision that never learns nationality can reach);
* ``observed_from_signs``: from the features' signs only (what an honest summary of high/low
  facts allows);
* ``observed_from_x_and_n`` / ``observed_from_signs_and_n``: with nationality too (what
  leaking it is worth);
* ``unbiased_from_x``: best accuracy against the unbiased label from the features;
* ``unbiased_of_signs_rule``: accuracy against the unbiased label of the best signs-only rule
  for the biased label (what an honest, MONA-like decision keeps).
"""

from __future__ import annotations

import math

import numpy as np

from monarl.envs.loan_text.settings import LoanTextParams

_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _ERF(np.asarray(z, np.float64) / math.sqrt(2.0)))


def accuracy_bounds(params: LoanTextParams, samples: int = 200_000,
                    seed: int = 0) -> dict[str, float]:
    """The bounds above from ``samples`` applicants drawn with a fixed ``seed``."""
    rng = np.random.default_rng(seed)
    f = params.num_features
    x = rng.standard_normal((samples, f))
    s = x @ params.w
    b, sigma = params.bias, params.noise

    def p_pos(z: np.ndarray) -> np.ndarray:  # P(z + sigma * e > 0)
        if sigma == 0:
            return (z > 0).astype(np.float64) + 0.5 * (z == 0)
        return _normal_cdf(z / sigma)

    p_n = [p_pos(s - b), p_pos(s + b)]  # P(y = 1 | x, n)
    p_x = 0.5 * (p_n[0] + p_n[1])
    p_unb = p_pos(s)
    codes = ((x > 0) * (2 ** np.arange(f))).sum(axis=1)
    counts = np.maximum(np.bincount(codes, minlength=2**f), 1)

    def by_sign(p: np.ndarray) -> np.ndarray:
        return (np.bincount(codes, p, minlength=2**f) / counts)[codes]

    def best(p: np.ndarray) -> float:
        return float(np.maximum(p, 1 - p).mean())

    p_sign = by_sign(p_x)
    return {
        "observed_from_x": best(p_x),
        "observed_from_signs": best(p_sign),
        "observed_from_x_and_n": 0.5 * sum(best(p) for p in p_n),
        "observed_from_signs_and_n": 0.5 * sum(best(by_sign(p)) for p in p_n),
        "unbiased_from_x": best(p_unb),
        "unbiased_of_signs_rule": float(np.where(p_sign > 0.5, p_unb, 1 - p_unb).mean()),
    }
