"""Misspecified overseer: its "trusted" value is computed on a reward that leaks the observed one.

The overseer's value function is the optimal value of ``(1 - m) * true + m * observed`` reward.
m = 0 is the trusted overseer; m = 1 is an overseer that shares the agent's misspecified reward,
so its approval endorses the hack's setup (it values blocking the camera). The approval keeps the
advantage form of ``trusted.advantage_approval``.
"""

from __future__ import annotations

import numpy as np

from monarl.approval.trusted import overseer_values
from monarl.envs.camera_dropbox.tables import TabularEnv


def mixed_reward(tables: TabularEnv, misspec: float) -> np.ndarray:
    """[S, A] reward ``(1 - m) * true + m * observed``."""
    if not 0.0 <= misspec <= 1.0:
        raise ValueError(f"misspec={misspec!r} is invalid: must be in [0, 1]")
    return (1.0 - misspec) * tables.reward_table("true") + misspec * tables.reward_table(
        "observed")


def misspecified_values(tables: TabularEnv, misspec: float) -> np.ndarray:
    """V[t, s] of the mixed reward (t = 0..T; the trusted overseer's convention)."""
    return overseer_values(tables, mixed_reward(tables, misspec))
