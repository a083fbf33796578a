"""Exact evaluation of tabular policies: outcome distribution and expected returns, no sampling.

Why exact: hack rates near 0 % or 100 % are the headline numbers, and sampling 84 rollouts adds
noise that swamps a 1 % difference. Propagating the state distribution through P for T steps
is cheap (T x S x A) and gives the exact expected value over the uniform start distribution,
which equals the average over the start states of one deterministic rollout each.

Bookkeeping. An episode ends when it enters ENDED (termination) or at the step limit
(truncation). Its outcome is the outcome label of its last non-ENDED state, so probability mass
is credited to ``outcome[s]`` when it flows from s into ENDED, and at the step limit for the mass
still on a live state.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from monarl.envs.camera_dropbox.tables import TabularEnv


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Exact results of a policy, batched over a leading axis when the policy is."""

    outcome_fractions: np.ndarray  # [..., n_outcomes], sums to 1
    observed_return: np.ndarray  # [...]
    true_return: np.ndarray  # [...]
    episode_length: np.ndarray  # [...] expected number of steps
    outcomes: tuple[str, ...]

    def as_dicts(self) -> list[dict[str, float]]:
        """One dict per batch element: {fail, intended, hack, observed_return, true_return,
        episode_length}."""
        fractions = np.atleast_2d(self.outcome_fractions)
        obs = np.atleast_1d(self.observed_return)
        true = np.atleast_1d(self.true_return)
        length = np.atleast_1d(self.episode_length)
        rows = []
        for i in range(fractions.shape[0]):
            row = {name: float(fractions[i, k]) for k, name in enumerate(self.outcomes)}
            row.update(observed_return=float(obs[i]), true_return=float(true[i]),
                       episode_length=float(length[i]))
            rows.append(row)
        return rows


def policy_probabilities(policy: np.ndarray, num_actions: int) -> np.ndarray:
    """Deterministic [..., T, S] int policies to one-hot [..., T, S, A] probabilities."""
    policy = np.asarray(policy)
    if np.issubdtype(policy.dtype, np.integer):
        return np.eye(num_actions)[policy]
    return policy.astype(np.float64)


def occupancy(tables: TabularEnv, policy: np.ndarray) -> np.ndarray:
    """How often a policy takes each action in each live state at each step, [T, S, A]: the
    expected visit counts from the uniform start distribution (ENDED excluded).

    ``policy``: deterministic actions [T, S] (ints) or probabilities [T, S, A].
    """
    probs = policy_probabilities(policy, tables.num_actions)
    dist = np.zeros(tables.num_states)
    dist[tables.initial] = 1.0 / len(tables.initial)
    dist[tables.ended] = 0.0
    out = np.zeros(probs.shape)
    for t in range(probs.shape[0]):
        out[t] = dist[:, None] * probs[t]
        dist = np.bincount(tables.next_state.ravel(), out[t].ravel(), tables.num_states)
        dist[tables.ended] = 0.0
    return out


def evaluate(tables: TabularEnv, policy: np.ndarray,
             start: np.ndarray | None = None) -> Evaluation:
    """Exact outcome fractions and expected returns of a time-dependent policy.

    ``policy``: deterministic actions [..., T, S] (ints) or probabilities [..., T, S, A].
    ``start``: start distribution [S] (default: uniform over ``tables.initial``).
    """
    probs = policy_probabilities(policy, tables.num_actions)
    steps = probs.shape[-3]
    batch = probs.shape[:-3]
    if start is None:
        start = np.zeros(tables.num_states)
        start[tables.initial] = 1.0 / len(tables.initial)
    n_out = len(tables.outcomes)
    dist = np.broadcast_to(start, batch + (tables.num_states,)).copy()
    fractions = np.zeros(batch + (n_out,))
    obs_return = np.zeros(batch)
    true_return = np.zeros(batch)
    length = np.zeros(batch)
    obs_r = tables.reward_table("observed")
    true_r = tables.reward_table("true")
    nxt = tables.next_state
    live = np.ones(tables.num_states, bool)
    live[tables.ended] = False
    onehot_outcome = np.zeros((tables.num_states, n_out))
    onehot_outcome[live, tables.outcome[live]] = 1.0
    flows_to_end = nxt == tables.ended  # [S, A]
    for t in range(steps):
        flow = dist[..., :, None] * probs[..., t, :, :]  # [..., S, A]
        obs_return += np.einsum("...sa,sa->...", flow, obs_r)
        true_return += np.einsum("...sa,sa->...", flow, true_r)
        length += flow[..., live, :].sum(axis=(-1, -2))
        ending = (flow * (flows_to_end & live[:, None])).sum(axis=-1)  # [..., S]
        fractions += ending @ onehot_outcome
        flat_flow = flow.reshape(-1, tables.num_states * tables.num_actions)
        n_batch = flat_flow.shape[0]
        target = (np.arange(n_batch)[:, None] * tables.num_states + nxt.reshape(1, -1)).ravel()
        dist = np.bincount(target, weights=flat_flow.ravel(),
                           minlength=n_batch * tables.num_states).reshape(dist.shape)
    fractions += dist @ onehot_outcome  # truncated at the step limit
    return Evaluation(outcome_fractions=fractions, observed_return=obs_return,
                      true_return=true_return, episode_length=length, outcomes=tables.outcomes)


def rollout_outcomes(policy: jax.Array, next_state: jax.Array, observed_reward: jax.Array,
                     true_reward: jax.Array, outcome: jax.Array, ended: int | jax.Array,
                     initial: jax.Array, num_outcomes: int = 3
                     ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Exact results of a *deterministic* policy [T, S], as a pure JAX function (jit/vmap).

    With deterministic rules and policy, one rollout from each start state is the exact
    distribution under the uniform start, and following N trajectories costs O(T * N) instead
    of O(T * S * A). Returns (outcome fractions [num_outcomes], mean observed return, mean true
    return, mean episode length) over the start states.
    """

    def advance(carry, actions):
        pos, observed, true, length, counts = carry
        nxt = next_state[pos, actions[pos]]
        live = pos != ended
        finished = live & (nxt == ended)
        counts = counts + jax.nn.one_hot(outcome[pos], num_outcomes) * finished[:, None]
        carry = (nxt, observed + observed_reward[nxt], true + true_reward[nxt],
                 length + live, counts)
        return carry, None

    n = initial.shape[0]
    zeros = jnp.zeros(n, observed_reward.dtype)
    init = (initial, zeros, zeros, zeros, jnp.zeros((n, num_outcomes), observed_reward.dtype))
    (pos, observed, true, length, counts), _ = jax.lax.scan(advance, init, policy)
    counts = counts + jax.nn.one_hot(outcome[pos], num_outcomes) * (pos != ended)[:, None]
    return counts.mean(axis=0), observed.mean(), true.mean(), length.mean()
