"""How good an approval is: its agreement with the exact approval it stands for.

Used for learned approvals (a model fit to N overseer labels) and for approvals computed from
a learned overseer, wherever the exact approval exists (boards with tables): Spearman rank
correlation and mean absolute error over every reachable step, and the error on the steps a
given policy takes, weighted by how often it takes them.
"""

from __future__ import annotations

import numpy as np

from monarl.tabular.evaluate import occupancy
from monarl.tabular.tables import Tables


def _rank(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    # average ranks of ties
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _rank(np.asarray(a, np.float64)), _rank(np.asarray(b, np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def approval_quality(tables: Tables, learned: np.ndarray, exact: np.ndarray,
                     policy: np.ndarray | None = None) -> dict[str, float]:
    """Rank correlation and MAE over reachable steps; ``mae_visited``: the error on the steps
    ``policy`` takes from the start states, weighted by how often it takes them (a
    deterministic policy [T, S], e.g. the exact solver's, or a stochastic one [T, S, A], e.g. a
    trained PPO policy)."""
    reach = tables.reachable_steps()
    mask = np.broadcast_to(reach[..., None], learned.shape)
    quality = {"rank_correlation": spearman(learned[mask], exact[mask]),
               "mae_reachable": float(np.abs(learned[mask] - exact[mask]).mean())}
    if policy is not None:
        visits = occupancy(tables, policy)
        quality["mae_visited"] = float(np.sum(visits * np.abs(learned - exact)) / visits.sum())
    return quality
