"""Generalized MONA: the evaluator that approves is itself given k steps of RL on the observed
reward.

The evaluator's value starts at the trusted value V_trusted (optimal for the true reward) and
receives k Bellman optimality backups with the *observed* reward:

    V^{j+1}(t, s) = max_a [ R_obs(s, a) + V^j(t+1, P[s, a]) ],   V^j(T, .) = 0.

k = 0 is pure MONA's trusted overseer. Because the problem has a finite horizon T, after k >= T
backups every entry is the observed reward's optimal value, and MONA with M = 1 and this
approval behaves as ordinary RL (a test checks it). The approval is the evaluator's advantage,
as for the trusted overseer. In between, k is the dial the debate is about: how much outcome
optimization the overseer may absorb before it rubber-stamps the hack.
"""

from __future__ import annotations

import numpy as np

from monarl.envs.camera_dropbox.tables import TabularEnv


def evaluator_values(tables: TabularEnv, start_values: np.ndarray, steps: int) -> np.ndarray:
    """k = ``steps`` synchronous observed-reward backups of ``start_values`` [T+1, S]."""
    if not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"evaluator_steps={steps!r} is invalid: must be an integer >= 0")
    values = np.array(start_values, np.float64, copy=True)
    reward = tables.reward_table("observed")
    horizon = values.shape[0] - 1
    for _ in range(min(int(steps), horizon + 1)):
        backed = values.copy()
        backed[:-1] = (reward[None] + values[1:][:, tables.next_state]).max(axis=-1)
        backed[-1] = 0.0
        if np.array_equal(backed, values):
            break
        values = backed
    return values
