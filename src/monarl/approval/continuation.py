"""Frozen-policy continuation ("incremental steering").

The approval of a step is the observed reward of the step plus the observed return that a
*frozen trusted policy* collects when it continues from the next state:

    approval(t, s, a) = R_obs(s') + G_obs^{pi_trusted}(t+1, s').

The frozen policy is the optimal policy of the true reward (exact, first-action tie-breaking),
so it never sets up the hack; the overseer only needs to *run* it, not to judge outcomes. For
tabular environments the continuation return is computed exactly by following the policy.

``continuation-rollout`` (PPO, any board) is the same approval with the frozen policy a PPO
policy trained on the true reward (the ``trusted-critic`` overseer, taken greedily, so it is
deterministic like the exact one) and the continuation computed by running it inside the jitted
training loop from every state the agent enters (:func:`rollout_returns`): no tables needed.
"""

from __future__ import annotations

import numpy as np

from monarl.envs.camera_dropbox.tables import TabularEnv


def trusted_policy(tables: TabularEnv) -> np.ndarray:
    """[T, S] greedy policy of the true reward (lowest-index tie-breaking, deterministic)."""
    from monarl.tabular.value_iteration import solve

    reward = np.broadcast_to(tables.reward_table("true"),
                             (tables.max_steps,) + tables.next_state.shape)
    return solve(tables, reward, None, tie_break="first")[0]


def continuation_returns(tables: TabularEnv, policy: np.ndarray,
                         reward: str = "observed") -> np.ndarray:
    """G[t, s]: return of ``reward`` collected by ``policy`` from (t, s) to the end; G[T] = 0."""
    steps = policy.shape[0]
    per_state = tables.observed_reward if reward == "observed" else tables.true_reward
    returns = np.zeros((steps + 1, tables.num_states))
    states = np.arange(tables.num_states)
    for t in range(steps - 1, -1, -1):
        nxt = tables.next_state[states, policy[t]]
        returns[t] = per_state[nxt] + returns[t + 1][nxt]
    return returns


def continuation_approval(tables: TabularEnv, policy: np.ndarray | None = None) -> np.ndarray:
    """[T, S, A] approval: R_obs(s') + observed continuation return of the frozen policy
    (``policy`` [T, S]; default the true reward's optimal one, :func:`trusted_policy`)."""
    policy = trusted_policy(tables) if policy is None else policy
    returns = continuation_returns(tables, policy)
    after = returns[1:][:, tables.next_state]  # [T, S, A]
    return tables.reward_table("observed")[None] + after


def rollout_returns(policy_fn, state, step_fn, observe_fn, max_steps: int):
    """Observed return a frozen deterministic policy collects from each of a batch of states
    (each at its own time t) to the end of the episode, by running it: the table-free twin of
    :func:`continuation_returns`, traceable by JAX (boards beyond the tables).

    ``policy_fn(obs [N, ...]) -> actions [N]``; ``step_fn(state, actions) -> (state, reward)``
    for the batch; ``observe_fn(state) -> obs``. A state that has ended, or whose time has
    reached ``max_steps``, collects nothing more; the loop runs the longest possible
    continuation (``max_steps`` steps) with finished states frozen."""
    import jax
    import jax.numpy as jnp

    def advance(carry, _):
        current, total = carry
        live = ~current.ended & (current.t < max_steps)
        nxt, reward = step_fn(current, policy_fn(observe_fn(current)))
        total = total + jnp.where(live, reward, 0.0)
        keep = lambda new, old: jnp.where(  # noqa: E731
            live.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
        return (jax.tree_util.tree_map(keep, nxt, current), total), None

    zeros = jnp.zeros(state.t.shape, jnp.float32)
    (_, total), _ = jax.lax.scan(advance, (state, zeros), None, length=max_steps)
    return total
