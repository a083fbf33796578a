"""Trusted-value advantage approval (reference.md section 3), optionally noisy.

The overseer knows the *true* reward's optimal value V_trusted(t, s) (value iteration over the
T steps) and judges a step by its advantage under that value, without seeing what follows:

    approval(t, s, a) = R_obs(s') + V_trusted(t+1, s') - V_trusted(t, s),   s' = P[s, a],

and 0 at the last step. Summed over a window of M steps it telescopes to the window's observed
return plus V_trusted at the window's end minus at its start, so M = T gives back ordinary RL
(potential shaping) and M = 1 is pure foresight.

The overseer's value counts the steps that earn approval: approval is 0 at the last step, so
V_trusted(t, s) is the optimal true return of steps t..T-2 and V_trusted(T-1, .) = 0, the public
code's convention (its value iteration pays the last step nothing). It matters with noise: a 0
entry stays exact, so at step T-2 the approval is noise-free and a noisy overseer's agent that
waited beside a box still pushes it in (reference.md section 4, sigma 0.5 at M = 1).

Noise models an imperfect overseer: Gaussian noise of std ``sigma`` is added to V_trusted once
per state (the same at every t; entries with |V| <= 1e-5, such as ENDED and the last step, stay
exact, as in the public code), or, with ``per="step"``, independently per (t, s, a) to the
approval itself.
"""

from __future__ import annotations

import numpy as np

from monarl.envs.camera_dropbox.tables import TabularEnv
from monarl.tabular.value_iteration import optimal_values

NOISE_PER = ("state", "step")
EXACT_BELOW = 1e-5


def overseer_values(tables: TabularEnv, reward: np.ndarray) -> np.ndarray:
    """V[t, s], t = 0..T, of an overseer valuing ``reward`` [S, A]: the optimal return of the
    steps t..T-2 that earn approval, so V[T-1] = V[T] = 0."""
    steps = tables.max_steps
    values = np.zeros((steps + 1, tables.num_states))
    values[:steps] = optimal_values(tables, reward, steps=steps - 1)
    return values


def trusted_values(tables: TabularEnv) -> np.ndarray:
    """V_trusted[t, s], t = 0..T: the overseer's optimal values of the true reward."""
    return overseer_values(tables, tables.reward_table("true"))


def noisy_values(values: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Add N(0, sigma^2) once per state to every |V| > 1e-5 entry (seeded, numpy PCG64)."""
    if sigma < 0:
        raise ValueError(f"noise sigma={sigma} is invalid: must be >= 0")
    if sigma == 0:
        return values
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=values.shape[-1])
    return np.where(np.abs(values) > EXACT_BELOW, values + noise, values)


def advantage_approval(tables: TabularEnv, values: np.ndarray) -> np.ndarray:
    """approval[t, s, a] = R_obs(s') + V(t+1, s') - V(t, s), and 0 at the last step."""
    steps = values.shape[-2] - 1
    after = values[1:, :][:, tables.next_state]  # [T, S, A]
    approval = tables.reward_table("observed")[None] + after - values[:-1, :, None]
    approval[steps - 1] = 0.0
    return approval


def trusted_approval(tables: TabularEnv, sigma: float = 0.0, seed: int = 0,
                     per: str = "state", values: np.ndarray | None = None) -> np.ndarray:
    """The [T, S, A] approval table of the trusted overseer with noise ``sigma``."""
    if per not in NOISE_PER:
        raise ValueError(f"noise_per={per!r} is invalid: allowed are {NOISE_PER}")
    values = trusted_values(tables) if values is None else values
    if per == "state":
        return advantage_approval(tables, noisy_values(values, sigma, seed))
    approval = advantage_approval(tables, values)
    if sigma > 0:
        approval = approval + np.random.default_rng(seed).normal(0.0, sigma, approval.shape)
    return approval
