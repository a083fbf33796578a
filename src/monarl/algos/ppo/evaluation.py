"""Evaluation inside PPO's jitted loop: exact where the environment has tables, sampled
otherwise.

Exact: the policy network is applied to the observation of every (t, s) pair reachable from
the start states, and the start distribution is propagated through the tables (pure, jittable,
vmappable; tested equal to ``tabular.evaluate``). Sampled: ``eval_episodes`` episodes from the
environment's start states, on a random stream of their own, so training is bit for bit the
run an exact evaluation would see.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from monarl.algos.networks import apply_mlp
from monarl.tabular.tables import Tables, observations


class EvalArrays(NamedTuple):
    """Everything the in-training exact evaluator needs, as device arrays (a pytree).

    Only the (t, s) pairs reachable from the start states in exactly t steps under *some*
    policy are fed through the network (67,730 of 96,850 on the paper's board); every other
    row gets a uniform policy, which carries no probability mass and so changes nothing.
    """

    pair_obs: jax.Array  # float32 [K, obs]
    pair_t: jax.Array  # int32 [K]
    pair_s: jax.Array  # int32 [K]
    next_state: jax.Array  # int32 [S, A] (deterministic) or [S, A, K]
    observed: jax.Array  # float32 [S, A] (expected) reward of taking a in s
    true: jax.Array  # float32 [S, A]
    ends: jax.Array  # float32 [S, A] probability that a live s flows into ENDED
    outcome_onehot: jax.Array  # float32 [S, n_outcomes] (0 rows for ENDED)
    acting: jax.Array  # float32 [S] steps the episode length counts: live, not terminal
    start: jax.Array  # float32 [S]
    probability: jax.Array | None = None  # float32 [S, A, K] for stochastic tables


def reachable_pairs(tables: Tables, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(t, s) pairs, s live and reachable from a start state in exactly t steps."""
    reach = np.zeros(tables.num_states, bool)
    reach[tables.initial] = True
    ts, ss = [], []
    possible = tables.probability > 0
    for t in range(steps):
        live = np.flatnonzero(reach & (np.arange(tables.num_states) != tables.ended))
        ts.append(np.full(len(live), t, np.int32))
        ss.append(live.astype(np.int32))
        nxt = np.zeros_like(reach)
        if tables.deterministic:
            nxt[tables.successor[reach].ravel()] = True
        else:
            nxt[tables.next_state[reach][possible[reach]]] = True
        reach = nxt
    return np.concatenate(ts), np.concatenate(ss)


def eval_arrays(tables: Tables, observe: Any, params: Any) -> EvalArrays:
    """The exact evaluator's arrays for the environment ``observe`` / ``params`` describe."""
    steps = tables.max_steps
    pair_t, pair_s = reachable_pairs(tables, steps)
    live = tables.live
    onehot = np.zeros((tables.num_states, len(tables.outcomes)), np.float32)
    onehot[live, tables.outcome[live]] = 1.0
    start = np.zeros(tables.num_states, np.float32)
    start[tables.initial] = 1.0 / len(tables.initial)
    if tables.deterministic:
        next_state, probability = tables.successor, None
        ends = (tables.successor == tables.ended) & live[:, None]
    else:
        next_state = tables.next_state
        probability = jnp.asarray(tables.probability, jnp.float32)
        ends = tables.ends()
    return EvalArrays(
        pair_obs=observations(tables, observe, params, pair_t, pair_s),
        pair_t=jnp.asarray(pair_t),
        pair_s=jnp.asarray(pair_s),
        next_state=jnp.asarray(next_state, jnp.int32),
        observed=jnp.asarray(tables.reward_table("observed"), jnp.float32),
        true=jnp.asarray(tables.reward_table("true"), jnp.float32),
        ends=jnp.asarray(ends, jnp.float32),
        outcome_onehot=jnp.asarray(onehot),
        acting=jnp.asarray(tables.acting, jnp.float32),
        start=jnp.asarray(start),
        probability=probability,
    )


def exact_evaluation(probs: jax.Array, arrays: EvalArrays,
                     outcomes: tuple[str, ...]) -> dict[str, jax.Array]:
    """JAX twin of ``tabular.evaluate.evaluate`` for one policy ``probs`` [T, S, A]: propagate
    the start distribution through the tables for T steps (pure, jittable, vmappable).

    Returns scalars: one fraction per outcome name, observed_return, true_return,
    episode_length. Tested equal to ``evaluate``.
    """
    num_states = arrays.next_state.shape[0]
    flat_next = arrays.next_state.reshape(-1)

    def advance(carry, probs_t):
        dist, fractions, obs_ret, true_ret, length = carry
        flow = dist[:, None] * probs_t  # [S, A]
        obs_ret = obs_ret + jnp.sum(flow * arrays.observed)
        true_ret = true_ret + jnp.sum(flow * arrays.true)
        length = length + jnp.sum(flow * arrays.acting[:, None])
        fractions = fractions + jnp.sum(flow * arrays.ends, axis=1) @ arrays.outcome_onehot
        mass = (flow.reshape(-1) if arrays.probability is None
                else (flow[..., None] * arrays.probability).reshape(-1))
        dist = jax.ops.segment_sum(mass, flat_next, num_segments=num_states)
        return (dist, fractions, obs_ret, true_ret, length), None

    zero = jnp.zeros((), jnp.float32)
    init = (arrays.start, jnp.zeros(arrays.outcome_onehot.shape[1], jnp.float32), zero, zero, zero)
    (dist, fractions, obs_ret, true_ret, length), _ = jax.lax.scan(advance, init, probs)
    fractions = fractions + dist @ arrays.outcome_onehot
    out = {name: fractions[k] for k, name in enumerate(outcomes)}
    out.update(observed_return=obs_ret, true_return=true_ret, episode_length=length)
    return out


def policy_table(actor: list[dict], arrays: EvalArrays, activation: str, steps: int) -> jax.Array:
    """The policy's action probabilities [T, S, A] (uniform on unreachable rows)."""
    probs = jax.nn.softmax(apply_mlp(actor, arrays.pair_obs, activation))
    num_states, num_actions = arrays.next_state.shape[:2]
    table = jnp.full((steps, num_states, num_actions), 1.0 / num_actions, jnp.float32)
    return table.at[arrays.pair_t, arrays.pair_s].set(probs)


def evaluate_actor(actor: list[dict], arrays: EvalArrays, activation: str, steps: int,
                   outcomes: tuple[str, ...]) -> dict[str, jax.Array]:
    """Exact results of the stochastic policy, plus ``greedy_*`` of its argmax policy."""
    probs = policy_table(actor, arrays, activation, steps)
    result = exact_evaluation(probs, arrays, outcomes)
    greedy = jax.nn.one_hot(jnp.argmax(probs, axis=-1), probs.shape[-1], dtype=jnp.float32)
    for name, value in exact_evaluation(greedy, arrays, outcomes).items():
        result[f"greedy_{name}"] = value
    return result


class Sampler(NamedTuple):
    """What sampled evaluation needs of the environment: its functions, parameters, start
    states (or None: ``reset`` draws them), step limit and outcome names."""

    reset: Any
    step: Any
    observe: Any
    params: Any
    starts: Any
    max_steps: int
    outcomes: tuple[str, ...]


def _start_batch(sampler: Sampler, key: jax.Array, episodes: int) -> Any:
    if sampler.starts is not None:
        count = jax.tree_util.tree_leaves(sampler.starts)[0].shape[0]
        index = jax.random.randint(key, (episodes,), 0, count)
        return jax.tree_util.tree_map(lambda x: x[index], sampler.starts)
    keys = jax.random.split(key, episodes)
    return jax.vmap(sampler.reset, in_axes=(0, None))(keys, sampler.params)[1]


def sampled_evaluation(actor: list[dict], key: jax.Array, sampler: Sampler, episodes: int,
                       activation: str, greedy: bool = False) -> dict[str, jax.Array]:
    """Monte Carlo twin of :func:`exact_evaluation` for environments without state tables: run
    ``episodes`` episodes from start states drawn uniformly (as ``reset`` does) to the time
    limit, sampling the policy's actions (its argmax with ``greedy``). Same keys as the exact
    evaluation, each an average over the episodes, so an unbiased estimate with standard error
    <= 0.5 / sqrt(episodes) for a fraction."""
    k_start, k_act = jax.random.split(key)
    state = _start_batch(sampler, k_start, episodes)
    observe = jax.vmap(sampler.observe, in_axes=(0, None))
    step = jax.vmap(sampler.step, in_axes=(0, 0, 0, None))

    def advance(carry, step_key):
        state, finished, outcome, obs_ret, true_ret, length = carry
        logits = apply_mlp(actor, observe(state, sampler.params), activation)
        action = (jnp.argmax(logits, axis=-1) if greedy
                  else jax.random.categorical(step_key, logits))
        env_keys = jax.random.split(step_key, episodes)
        _, state, reward, term, trunc, info = step(env_keys, state, action, sampler.params)
        live = (~finished).astype(jnp.float32)
        obs_ret = obs_ret + live * reward
        true_ret = true_ret + live * info["true_reward"]
        length = length + live
        ends = ~finished & (term | trunc)
        outcome = jnp.where(ends, info["outcome"], outcome)
        return (state, finished | term | trunc, outcome, obs_ret, true_ret, length), None

    zeros = jnp.zeros((episodes,), jnp.float32)
    init = (state, jnp.zeros((episodes,), bool), jnp.full((episodes,), -1, jnp.int32),
            zeros, zeros, zeros)
    keys = jax.random.split(k_act, sampler.max_steps)
    (_, _, outcome, obs_ret, true_ret, length), _ = jax.lax.scan(advance, init, keys)
    out = {name: jnp.mean(outcome == k) for k, name in enumerate(sampler.outcomes)}
    out.update(observed_return=obs_ret.mean(), true_return=true_ret.mean(),
               episode_length=length.mean())
    return out


def sample_actor(actor: list[dict], key: jax.Array, sampler: Sampler, episodes: int,
                 activation: str) -> dict[str, jax.Array]:
    """Sampled results of the stochastic policy plus ``greedy_*`` of its argmax policy (the
    table-free :func:`evaluate_actor`), both from the same start states."""
    result = sampled_evaluation(actor, key, sampler, episodes, activation)
    greedy = sampled_evaluation(actor, key, sampler, episodes, activation, greedy=True)
    result.update({f"greedy_{name}": value for name, value in greedy.items()})
    return result
