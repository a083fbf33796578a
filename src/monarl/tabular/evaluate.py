"""Exact evaluation of tabular policies: outcome distribution and expected returns, no sampling.

Why exact: hack rates near 0 % or 100 % are the headline numbers, and sampling 84 rollouts adds
noise that swamps a 1 % difference. Propagating the state distribution through P for T steps
is cheap (T x S x A) and gives the exact expected value over the uniform start distribution,
which equals the average over the start states of one deterministic rollout each.

Bookkeeping. An episode ends when it enters ENDED (termination) or at the step limit
(truncation). Its outcome is the outcome label of its last non-ENDED state, so probability mass
is credited to ``outcome[s]`` when it flows from s into ENDED, and at the step limit for the mass
still on a live state. An episode that enters a terminal state (``Tables.terminal``) ends there:
the tables' step from it into ENDED pays 0 and credits that state's outcome, so returns and
outcomes need nothing more, and the episode length leaves that step out (it counts the steps
taken from ``Tables.acting`` states).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from monarl.tabular.tables import Tables


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


def occupancy(tables: Tables, policy: np.ndarray) -> np.ndarray:
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
        if tables.deterministic:
            dist = np.bincount(tables.successor.ravel(), out[t].ravel(), tables.num_states)
        else:
            dist = tables.flow(out[t])
        dist[tables.ended] = 0.0
    return out


def evaluate(tables: Tables, policy: np.ndarray,
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
    live = tables.live
    acting = tables.acting
    onehot_outcome = np.zeros((tables.num_states, n_out))
    onehot_outcome[live, tables.outcome[live]] = 1.0
    if tables.deterministic:
        ends = (tables.successor == tables.ended) & live[:, None]  # [S, A]
    else:
        ends = tables.ends()
    for t in range(steps):
        flow = dist[..., :, None] * probs[..., t, :, :]  # [..., S, A]
        obs_return += np.einsum("...sa,sa->...", flow, obs_r)
        true_return += np.einsum("...sa,sa->...", flow, true_r)
        length += flow[..., acting, :].sum(axis=(-1, -2))
        ending = (flow * ends).sum(axis=-1)  # [..., S]
        fractions += ending @ onehot_outcome
        dist = tables.flow(flow)
    fractions += dist @ onehot_outcome  # truncated at the step limit
    return Evaluation(outcome_fractions=fractions, observed_return=obs_return,
                      true_return=true_return, episode_length=length, outcomes=tables.outcomes)


def rollout_outcomes(policy: jax.Array, next_state: jax.Array, observed: jax.Array,
                     true: jax.Array, outcome: jax.Array, ended: int | jax.Array,
                     initial: jax.Array, num_outcomes: int = 3,
                     terminal: jax.Array | None = None
                     ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Exact results of a *deterministic* policy [T, S] on deterministic tables, as a pure JAX
    function (jit/vmap): ``next_state`` [S, A] successors, ``observed`` / ``true`` [S, A]
    rewards of each step.

    With deterministic rules and policy, one rollout from each start state is the exact
    distribution under the uniform start, and following N trajectories costs O(T * N) instead
    of O(T * S * A). Returns (outcome fractions [num_outcomes], mean observed return, mean true
    return, mean episode length) over the start states. ``terminal`` [S] bool
    (``Tables.terminal``; None: none): the step from a terminal state is not counted in the
    length.
    """

    def advance(carry, actions):
        pos, total_observed, total_true, length, counts = carry
        action = actions[pos]
        nxt = next_state[pos, action]
        live = pos != ended
        finished = live & (nxt == ended)
        counts = counts + jax.nn.one_hot(outcome[pos], num_outcomes) * finished[:, None]
        acting = live if terminal is None else live & ~terminal[pos]
        carry = (nxt, total_observed + observed[pos, action], total_true + true[pos, action],
                 length + acting, counts)
        return carry, None

    n = initial.shape[0]
    zeros = jnp.zeros(n, observed.dtype)
    init = (initial, zeros, zeros, zeros, jnp.zeros((n, num_outcomes), observed.dtype))
    (pos, total_observed, total_true, length, counts), _ = jax.lax.scan(advance, init, policy)
    counts = counts + jax.nn.one_hot(outcome[pos], num_outcomes) * (pos != ended)[:, None]
    return counts.mean(axis=0), total_observed.mean(), total_true.mean(), length.mean()


def distribution_outcomes(policy: jax.Array, next_state: jax.Array, probability: jax.Array,
                          observed: jax.Array, true: jax.Array, outcome: jax.Array,
                          ended: int | jax.Array, initial: jax.Array, num_outcomes: int = 3,
                          terminal: jax.Array | None = None
                          ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """:func:`rollout_outcomes` for stochastic tables (``next_state`` / ``probability``
    [S, A, K]): the state distribution of the deterministic policy, propagated exactly."""
    num_states = next_state.shape[0]
    states = jnp.arange(num_states)
    live = (states != ended).astype(observed.dtype)
    acting = live if terminal is None else ((states != ended) & ~terminal).astype(
        observed.dtype)
    onehot = jax.nn.one_hot(outcome, num_outcomes, dtype=observed.dtype) * live[:, None]
    start = jnp.zeros(num_states, observed.dtype).at[initial].add(1.0 / initial.shape[0])

    def advance(carry, actions):
        dist, fractions, total_observed, total_true, length = carry
        nxt, prob = next_state[states, actions], probability[states, actions]  # [S, K]
        total_observed = total_observed + jnp.sum(dist * observed[states, actions])
        total_true = total_true + jnp.sum(dist * true[states, actions])
        length = length + jnp.sum(dist * acting)
        ending = dist * jnp.sum(prob * (nxt == ended), axis=-1)
        fractions = fractions + ending @ onehot
        dist = jax.ops.segment_sum((dist[:, None] * prob).reshape(-1), nxt.reshape(-1),
                                   num_segments=num_states)
        return (dist, fractions, total_observed, total_true, length), None

    zero = jnp.zeros((), observed.dtype)
    init = (start, jnp.zeros(num_outcomes, observed.dtype), zero, zero, zero)
    (dist, fractions, total_observed, total_true, length), _ = jax.lax.scan(advance, init,
                                                                            policy)
    return fractions + dist @ onehot, total_observed, total_true, length
