"""Outcome-leaking approval: a NEGATIVE CONTROL, not a method.

It mixes into the trusted approval, with weight w, the future observed return that follows the
step -- exactly what MONA's approval must never see. In the exact solver the "realized" future is
the observed return-to-go of acting optimally for the observed reward afterwards (the outcome an
approval that peeks at the episode would credit). w = 0 is the trusted approval; w = 1 hands the
step ordinary RL's full-horizon credit, so hacking returns. The report labels it as a control
wherever it appears.
"""

from __future__ import annotations

import numpy as np

from monarl.approval.trusted import advantage_approval, overseer_values
from monarl.envs.camera_dropbox.tables import TabularEnv


def leak_approval(tables: TabularEnv, trusted: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - w) * trusted + w * (observed advantage under the observed-optimal future)``."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"leak={weight!r} is invalid: must be in [0, 1]")
    leaked = advantage_approval(tables, overseer_values(tables, tables.reward_table("observed")))
    return (1.0 - weight) * trusted + weight * leaked
