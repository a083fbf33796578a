"""Exact finite-horizon solver with an optimization horizon M (the MONA knob, solved exactly).

The problem. Steps t = 0..T-1; at step t the agent in state s takes a, enters s' = P[s, a] and
receives the training reward R[t, s, a] (observed reward for ordinary RL; for MONA the
approval, which contains the step's observed reward). With optimization horizon M, step t is
optimized for the training rewards of steps t..t+M-1 only. Two readings of "the later steps of
the window" exist:

- ``window="optimal"`` (default, the public code's semantics; it reproduces reference.md
  section 4): step t plans the whole window optimally and executes its first action,
  ``Q_t(s, a) = R[t, s, a] + V^{M-1}_{t+1}(s')`` with ``V^k_u`` the optimal k-step value from
  time u (a receding-horizon planner). ``V^{k+1}_u = max_a Q^{(k+1)}_u``, so one sweep over k
  yields every horizon 1..K at the cost of one value-iteration backup each.
- ``window="policy"``: the later steps follow the policy itself (the fixed point on-policy PPO
  with M-step returns converges to). Solved backward in time; the window sum under the policy is
  a difference of returns-to-go, ``W_u(s) = C_u(s) - C_{u+L}(phi(s))``, with the L-step state
  map ``phi`` of the deterministic policy obtained by binary lifting, O(log M * S) per step.

M = None (or M >= T) is ordinary finite-horizon value iteration under both readings.

Ties. ``tie_break="random"`` (default) picks among the actions whose Q equals the best *exactly*
(float64 equality) by a priority drawn once per (t, s, a) from ``jax.random`` with the key
``PRNGKey(seed)``: reproducible, and different seeds make different (equally optimal) choices.
This is the public code's rule, and it decides reference.md section 4's noisy column: Q values
that are equal in exact arithmetic but reached along different sums (a noisy overseer's window
telescopes along every path) differ by rounding, and then the larger float wins. Q is summed in
the public code's order, ``R[t] + V_{t+1}(s')``, so the same near-ties resolve the same way.
``tie_break="random-near"`` also treats Q within ``TIE_TOLERANCE`` of the best as tied (ties
of exact arithmetic, all broken at random); with sigma = 0.5 it makes MONA hack more at
M >= 12 than the public code (docs/exact.md). ``tie_break="first"`` takes the lowest action
index (UP, DOWN, LEFT, RIGHT order) among Q within ``TIE_TOLERANCE``.

Everything runs in float64 (``jax.enable_x64`` locally), so ties are ties and returns are exact.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from monarl.core.horizon import validate_horizon
from monarl.tabular.evaluate import distribution_outcomes, rollout_outcomes
from monarl.tabular.tables import Tables

TIE_TOLERANCE = 1e-9
TIE_BREAKS = ("random", "random-near", "first")
WINDOWS = ("optimal", "policy")


def optimal_values(tables: Tables, reward: np.ndarray, steps: int | None = None) -> np.ndarray:
    """Full-horizon optimal values V[t, s] (t = 0..T, V[T] = 0) for a reward table [S, A]
    (time-independent) or [T, S, A]."""
    steps = tables.max_steps if steps is None else steps
    reward = np.asarray(reward, np.float64)
    if reward.ndim == 2:
        reward = np.broadcast_to(reward, (steps,) + reward.shape)
    values = np.zeros((steps + 1, tables.num_states))
    for t in range(steps - 1, -1, -1):
        values[t] = (reward[t] + tables.expect(values[t + 1])).max(axis=-1)
    return values


def _check(tables: Tables, reward: np.ndarray, seeds, tie_break: str, window: str):
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break={tie_break!r} is invalid: allowed are {TIE_BREAKS}")
    if window not in WINDOWS:
        raise ValueError(f"window={window!r} is invalid: allowed are {WINDOWS}")
    reward = np.asarray(reward, np.float64)
    if reward.ndim == 3:
        reward = reward[None]
    seeds = np.atleast_1d(np.asarray(seeds, np.int64))
    if reward.shape[0] == 1 and len(seeds) > 1:
        reward = np.broadcast_to(reward, (len(seeds),) + reward.shape[1:])
    seeds = np.broadcast_to(seeds, (reward.shape[0],))
    if reward.ndim != 4 or reward.shape[2:] != (tables.num_states, tables.num_actions):
        raise ValueError(f"training reward has shape {reward.shape}, expected [T, S, A] or "
                         f"[B, T, S, A] with S={tables.num_states}, A={tables.num_actions}")
    return reward, seeds


def _priorities(seeds: jax.Array, shape: tuple[int, ...], tie_break: str) -> jax.Array:
    if tie_break == "first":
        return jnp.broadcast_to(-jnp.arange(shape[-1], dtype=jnp.float64),
                                (seeds.shape[0],) + shape)
    return jax.vmap(lambda s: jax.random.uniform(jax.random.PRNGKey(s), shape,
                                                 jnp.float64))(seeds)


def tie_tolerance(tie_break: str) -> float:
    """How far below the best Q an action still counts as tied under ``tie_break``."""
    return 0.0 if tie_break == "random" else TIE_TOLERANCE


def _greedy(q: jax.Array, priority: jax.Array, tolerance: float) -> jax.Array:
    best = q.max(axis=-1, keepdims=True)
    return jnp.argmax(jnp.where(q >= best - tolerance, priority, -jnp.inf), axis=-1)


# XLA's LLVM backend at optimization level 1 instead of the default: this program is a long
# scan of small gathers and reductions, so on the 2-core machine its compilation took ~1.4 s
# of a ~2 s cold sweep at the default level and ~0.6 s at level 1, with the same run time warm
# (benchmarks/bench_exact.py). Only this program is affected.
FAST_COMPILE = {"xla_backend_optimization_level": 1}


@partial(jax.jit, static_argnames=("levels", "tie_break", "keep", "num_outcomes"),
         compiler_options=FAST_COMPILE)
def _window_optimal_sweep(reward, seeds, next_state, tables_arrays, levels, tie_break, keep,
                          probability=None, num_outcomes=3, terminal=None):
    """Scan k = 1..levels: policy and exact evaluation of every horizon M = k.

    Batch elements (noise seeds) are solved one after another (``lax.map``), not side by side:
    one element's [T, S, A] working set stays in cache, and on the 2-core machine ten seeds
    side by side took 2.5x as long per seed as one (benchmarks/bench_sweep.py).

    ``next_state``: [S, A] successors (deterministic tables, ``probability=None``) or
    [S, A, K] with their ``probability``. ``terminal``: ``Tables.terminal`` (None: none).
    """
    _, steps, num_states, num_actions = reward.shape

    def one(args):
        reward_b, seed_b = args
        priority = _priorities(seed_b[None], (steps, num_states, num_actions), tie_break)[0]

        def body(values, _):
            if probability is None:
                q = reward_b + values[1:, :][:, next_state]  # [T, S, A]
            else:
                q = reward_b + jnp.sum(values[1:, :][:, next_state] * probability, axis=-1)
            policy = _greedy(q, priority, tie_tolerance(tie_break)).astype(jnp.int32)  # [T, S]
            values = values.at[:steps].set(q.max(axis=-1))
            if probability is None:
                result = rollout_outcomes(policy, *tables_arrays, num_outcomes=num_outcomes,
                                          terminal=terminal)
            else:
                result = distribution_outcomes(policy, *tables_arrays,
                                               num_outcomes=num_outcomes, terminal=terminal)
            return values, (result, policy if keep else None)

        values = jnp.zeros((steps + 1, num_states), jnp.float64)
        _, out = jax.lax.scan(body, values, None, length=levels)
        return out

    results, policies = jax.lax.map(one, (reward, seeds))
    # [B, levels, ...] -> [levels, B, ...]
    results, policies = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (results, policies))
    return results, policies


def _tables_arrays(tables: Tables) -> tuple:
    """What the in-jit exact evaluation reads (``rollout_outcomes`` for deterministic tables,
    ``distribution_outcomes`` for stochastic ones)."""
    rewards = (jnp.asarray(tables.reward_table("observed")),
               jnp.asarray(tables.reward_table("true")))
    rest = (jnp.asarray(tables.outcome), tables.ended, jnp.asarray(tables.initial))
    if tables.deterministic:
        return (jnp.asarray(tables.successor), *rewards, *rest)
    return (jnp.asarray(tables.next_state), jnp.asarray(tables.probability), *rewards, *rest)


def _terminal(tables: Tables) -> jax.Array | None:
    """``Tables.terminal`` as a device array, or None (the evaluation then counts every live
    state's step, exactly as without the argument)."""
    return None if tables.terminal is None else jnp.asarray(tables.terminal)


def _transitions(tables: Tables) -> tuple[jax.Array, jax.Array | None]:
    if tables.deterministic:
        return jnp.asarray(tables.successor), None
    return jnp.asarray(tables.next_state), jnp.asarray(tables.probability)


def horizon_sweep(tables: Tables, reward: np.ndarray, horizons: list[int | None],
                  seeds: int | np.ndarray = 0, tie_break: str = "random",
                  window: str = "optimal") -> dict[str, np.ndarray]:
    """Exact results of the greedy policy for every horizon in ``horizons``.

    Returns arrays indexed [horizon, batch]: ``fractions`` [H, B, n_outcomes],
    ``observed_return``, ``true_return``, ``episode_length`` [H, B].
    """
    horizons = [validate_horizon(h) for h in horizons]
    reward, seeds = _check(tables, reward, seeds, tie_break, window)
    steps = reward.shape[1]
    effective = [steps if h is None else min(h, steps) for h in horizons]
    if window == "policy":
        rows = [evaluate_policies(tables, solve(tables, reward, h, seeds, tie_break, window))
                for h in horizons]
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    with jax.enable_x64(True):
        next_state, probability = _transitions(tables)
        results, _ = _window_optimal_sweep(jnp.asarray(reward), jnp.asarray(seeds), next_state,
                                           _tables_arrays(tables), max(effective), tie_break,
                                           False, probability, len(tables.outcomes),
                                           _terminal(tables))
        results = jax.device_get(results)
    index = np.asarray(effective) - 1
    fractions, observed, true, length = results
    return {"fractions": fractions[index], "observed_return": observed[index],
            "true_return": true[index], "episode_length": length[index]}


def evaluate_policies(tables: Tables, policies: np.ndarray) -> dict[str, np.ndarray]:
    """Exact evaluation of deterministic policies [B, T, S] (rollouts from every start)."""
    with jax.enable_x64(True):
        arrays = _tables_arrays(tables)
        outcomes = rollout_outcomes if tables.deterministic else distribution_outcomes
        count = len(tables.outcomes)
        terminal = _terminal(tables)
        fractions, observed, true, length = jax.device_get(
            jax.jit(jax.vmap(lambda p: outcomes(p, *arrays, num_outcomes=count,
                                                terminal=terminal)))(jnp.asarray(policies)))
    return {"fractions": fractions, "observed_return": observed, "true_return": true,
            "episode_length": length}


def solve(tables: Tables, reward: np.ndarray, horizon: int | None,
          seeds: int | np.ndarray = 0, tie_break: str = "random",
          window: str = "optimal") -> np.ndarray:
    """Greedy time-dependent policies [B, T, S] (action indices) for horizon M.

    ``reward``: training reward [T, S, A] or batched [B, T, S, A]; ``seeds``: tie-breaking seed,
    one int or one per batch element.
    """
    horizon = validate_horizon(horizon)
    reward, seeds = _check(tables, reward, seeds, tie_break, window)
    steps = reward.shape[1]
    window_len = steps if horizon is None else min(horizon, steps)
    with jax.enable_x64(True):
        if window == "policy":
            priority = np.asarray(_priorities(jnp.asarray(seeds), reward.shape[1:], tie_break))
            return _solve_own_policy(tables, reward, window_len, priority,
                                     tie_tolerance(tie_break))
        next_state, probability = _transitions(tables)
        _, policies = _window_optimal_sweep(jnp.asarray(reward), jnp.asarray(seeds), next_state,
                                            _tables_arrays(tables), window_len, tie_break, True,
                                            probability, len(tables.outcomes), _terminal(tables))
        return np.asarray(policies[-1])


def _solve_own_policy(tables: Tables, reward: np.ndarray, window_len: int,
                      priority: np.ndarray, tolerance: float) -> np.ndarray:
    """``window="policy"``: backward induction where the window's later steps follow pi."""
    if not tables.deterministic:
        return _solve_own_policy_stochastic(tables, reward, window_len, priority, tolerance)
    batch, steps, num_states, _ = reward.shape
    extra = window_len - 1  # steps after t that count for step t
    levels = max(1, int(extra).bit_length())
    rows = np.arange(batch)[:, None]
    cols = np.arange(num_states)[None, :]
    nxt = tables.successor
    to_go = np.zeros((batch, steps + 1, num_states))  # C_t under pi
    jumps = np.zeros((levels, steps + 1, batch, num_states), np.int32)  # 2^j-step maps
    policy = np.zeros((batch, steps, num_states), np.int32)
    for t in range(steps - 1, -1, -1):
        u = t + 1
        span = min(extra, steps - u)
        if span == 0:
            tail = np.zeros((batch, num_states))
        elif u + span == steps:
            tail = to_go[:, u]
        else:
            pos = np.broadcast_to(cols, (batch, num_states))
            when = u
            for j in range(span.bit_length()):
                if span >> j & 1:
                    pos = jumps[j, when][rows, pos]
                    when += 1 << j
            tail = to_go[:, u] - to_go[:, u + span][rows, pos]
        q = reward[:, t] + tail[:, nxt]  # [B, S, A]
        best = q.max(axis=-1, keepdims=True)
        tied = q >= best - tolerance
        action = np.where(tied, priority[:, t], -np.inf).argmax(axis=-1).astype(np.int32)
        policy[:, t] = action
        succ = nxt[cols, action]  # [B, S]
        to_go[:, t] = reward[:, t][rows, cols, action] + to_go[:, u][rows, succ]
        jumps[0, t] = succ
        for j in range(1, levels):
            half = 1 << (j - 1)
            if t + 2 * half <= steps:
                jumps[j, t] = jumps[j - 1, t + half][rows, jumps[j - 1, t]]
    return policy


def _solve_own_policy_stochastic(tables: Tables, reward: np.ndarray, window_len: int,
                                 priority: np.ndarray, tolerance: float) -> np.ndarray:
    """``window="policy"`` with stochastic transitions: the window's later steps follow pi in
    expectation, ``W^L_u(s) = r(u, s, pi) + E[W^{L-1}_{u+1}(s')]``, recomputed for each t
    (O(T * M) expected backups; the tables are small)."""
    batch, steps, num_states, _ = reward.shape
    extra = window_len - 1
    rows = np.arange(batch)[:, None]
    cols = np.arange(num_states)[None, :]
    policy = np.zeros((batch, steps, num_states), np.int32)
    for t in range(steps - 1, -1, -1):
        u = t + 1
        span = min(extra, steps - u)
        tail = np.zeros((batch, num_states))  # expected window sum of steps u .. u+span-1
        for step in range(u + span - 1, u - 1, -1):
            action = policy[:, step]
            gained = reward[:, step][rows, cols, action]
            tail = gained + tables.expect(tail)[rows, cols, action]
        q = reward[:, t] + tables.expect(tail)  # [B, S, A]
        best = q.max(axis=-1, keepdims=True)
        tied = q >= best - tolerance
        policy[:, t] = np.where(tied, priority[:, t], -np.inf).argmax(axis=-1).astype(np.int32)
    return policy
