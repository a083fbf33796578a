"""Trusted advantage from a *learned* overseer value: the MONA approval that needs no tables.

The paper's approval (``trusted.py``) is ``R_obs(s') + V(t+1, s') - V(t, s)`` with V the exact
finite-horizon optimum of the true reward, which value iteration computes over every state. On
a board too large to tabulate no such V exists, so here the overseer *learns* its foresight:
V is the value head of a PPO run trained with ordinary RL on the **true** reward (which pays
one box and punishes every further one, so that run has no hack to learn). The approval is the
same formula with that critic:

    approval(t, s, a, s') = R_obs(s') + V_critic(t+1, s') - V_critic(t, s),   0 at the last step,

with the conventions of ``trusted.py``: the value of the last step and of ENDED is 0. The
approval still never sees what happens after the step it judges: V_critic is a function of the
state (the observation holds the time step), fixed before the MONA run starts.

It is a function of (t, state, action, next_state), traceable by JAX and vmappable, not a
[T, S, A] table; ``critic_table`` builds the same approval as a table on boards that have tables,
so it can be compared with the exact one (rank correlation, error on visited steps).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

ValueFn = Callable[[jax.Array], jax.Array]
"""Observations [N, obs] -> the overseer's values [N]."""


def overseer_values(value_fn: ValueFn, obs: jax.Array, t: jax.Array, ended: jax.Array,
                    max_steps: int) -> jax.Array:
    """V(t, s) of the learned overseer with ``trusted.py``'s conventions: 0 for ENDED and from
    the last step on (t >= T - 1), where approval pays nothing."""
    values = value_fn(obs)
    return jnp.where(ended | (t >= max_steps - 1), 0.0, values)


def critic_approval(value_fn: ValueFn, obs: jax.Array, t: jax.Array, ended: jax.Array,
                    next_obs: jax.Array, next_ended: jax.Array, observed_reward: jax.Array,
                    max_steps: int) -> jax.Array:
    """Approval of a batch of steps: ``R_obs(s') + V(t+1, s') - V(t, s)``, 0 at the last step.

    ``obs``/``t``/``ended``: the states acted in; ``next_obs``/``next_ended``: the states
    entered (before any auto-reset); ``observed_reward``: R_obs(s') of each step."""
    v_now = overseer_values(value_fn, obs, t, ended, max_steps)
    v_next = overseer_values(value_fn, next_obs, t + 1, next_ended, max_steps)
    return jnp.where(t >= max_steps - 1, 0.0, observed_reward + v_next - v_now)


def critic_table(value_fn: ValueFn, observations: Callable[[np.ndarray, np.ndarray], jax.Array],
                 next_state: np.ndarray, observed_reward: np.ndarray, ended_state: int,
                 max_steps: int) -> np.ndarray:
    """The approval of ``value_fn`` as a [T, S, A] table, for boards with tables.

    ``observations(t, s)`` gives the observations of table states ``s`` at times ``t``;
    ``next_state`` [S, A] and ``observed_reward`` [S] are the board's tables."""
    num_states = next_state.shape[0]
    states = np.arange(num_states)
    values = np.zeros((max_steps + 1, num_states), np.float32)
    for t in range(max_steps - 1):  # V(T-1) = V(T) = 0
        obs = observations(np.full(num_states, t, np.int32), states)
        values[t] = np.asarray(value_fn(obs), np.float32)
    values[:, ended_state] = 0.0
    after = values[1:][:, next_state]  # [T, S, A]: V(t+1, s')
    table = observed_reward[next_state][None] + after - values[:max_steps, :, None]
    table[max_steps - 1] = 0.0
    return table.astype(np.float32)
