"""Horizon-truncated returns and advantages: the MONA core math, as pure JAX functions.

MONA differs from ordinary RL in two knobs only:

1. *Approval* (``monarl.approval``): where a step's training reward comes from (observed reward
   plus an overseer's judgement of the step, given without seeing its future).
2. *Horizon* (this module): how far a step's return reaches. ``horizon=None`` is ordinary RL (the
   full return to the end of the episode); ``horizon=M`` sums the training rewards of steps
   ``t .. t+M-1`` only, and pure MONA is ``M = 1``.

Everything here is a small pure function of time-major arrays ``[T, *batch]`` (for example
``[T, num_envs]`` from a PureJaxRL-style rollout of auto-resetting vectorized environments). Such a
rollout holds several episodes and may cut one at its end, so every function takes ``dones``
(``terminated | truncated``: step t is the last step of its episode) and never lets a return cross
an episode boundary. Time limits add *nothing*: a truncated step is treated exactly like a
terminated one (our observations contain the time step, so the true value at the limit is 0, and
bootstrapping a full-horizon critic there would leak long-horizon value into a myopic step).

The horizon M is a Python int (or None) and must be static under ``jax.jit``
(``static_argnames="horizon"``): it fixes array shapes (the number of critic heads) and the length
of the internal ``lax.scan`` over heads. All other arguments may be traced, and every function is
``vmap``-compatible.

Why fixed-horizon critic heads. For finite M the critic has one head per horizon: head h
estimates V^h(s), the expected sum of the next h training rewards from s (V^0 = 0). Head h is
trained towards ``r_t + V^{h-1}(s_{t+1})``, whose bootstrap covers steps ``t+1 .. t+h-1``, so the
whole target covers ``t .. t+h-1`` and never anything beyond ``t+M-1``. At the rollout-end cut a
step that needs j more rewards uses head j exactly, never a longer one. The public MONA code
instead re-packs the library's rollout buffer into sliding windows that fake episode boundaries
(a transition then counts at several window positions for M > 1) and keeps the library's
full-horizon time-limit bootstrap, which leaks value from beyond the window. Here the rollout is
used as it is: each step gets exactly one return, one advantage and one target per head.

Conventions: finite-horizon returns are undiscounted (the paper uses gamma = 1 and M is the only
truncation); the full-horizon PPO path uses :func:`gae` with its own gamma and lambda.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "validate_horizon",
    "next_step_values",
    "horizon_returns",
    "returns_by_horizon",
    "horizon_advantages",
    "fixed_horizon_targets",
    "gae",
    "policy_advantages",
    "normalize_advantages",
    "turn_advantages",
    "compiled_turn_advantages",
    "later_rewards_cancel",
    "advantage_gap",
]

Array = jax.Array


def validate_horizon(horizon: object) -> int | None:
    """Check an optimization horizon and return it as ``None`` or a Python ``int``.

    Why: the horizon fixes array shapes and loop lengths, so a bad value must fail before any
    work starts, with a message naming what is allowed. ``True`` is rejected although it is an
    ``int`` in Python, because it is almost certainly a configuration mistake; integral numpy
    scalars (e.g. ``np.int64(4)`` from a config sweep) are accepted and converted to ``int``.

    Raises:
        ValueError: for anything but ``None`` or an integer >= 1.
    """
    if horizon is None:
        return None
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral):
        raise ValueError(
            f"horizon must be None (full return, ordinary RL) or an int >= 1 "
            f"(M-step return; pure MONA is 1); got {horizon!r} of type {type(horizon).__name__}"
        )
    if int(horizon) < 1:
        raise ValueError(
            f"horizon must be None (full return, ordinary RL) or an int >= 1 "
            f"(M-step return; pure MONA is 1); got {int(horizon)}"
        )
    return int(horizon)


def _check_same_shape(name: str, x: Array, expected: tuple[int, ...], what: str) -> None:
    if tuple(x.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)} ({what}); got {tuple(x.shape)}")


def _check_time_major(rewards: Array, dones: Array) -> None:
    if rewards.ndim < 1:
        raise ValueError(f"rewards must be time-major [T, *batch]; got shape {rewards.shape}")
    _check_same_shape("dones", dones, rewards.shape, "same as rewards: [T, *batch]")


def _end_mask(dones: Array) -> Array:
    """Boolean "episode ends at this step" mask (accepts bool or 0/1 float dones)."""
    return jnp.asarray(dones).astype(bool)


def next_step_values(values: Array, final_values: Array) -> Array:
    """Values of the next state for every step of a rollout: ``[values[1:], final_values]``.

    Why: TD targets and GAE need V(s_{t+1}) for each step; inside the rollout that is the value of
    the following step, and after the last step it is the value of the state that follows the
    rollout (``final_values``, shape ``values.shape[1:]``). With auto-reset, ``values[t+1]`` after
    a done step is the value of a fresh episode's first state; that is harmless, because every
    consumer here masks the bootstrap at done steps.
    """
    values = jnp.asarray(values)
    final_values = jnp.asarray(final_values, dtype=values.dtype)
    _check_same_shape("final_values", final_values, values.shape[1:], "values.shape[1:]")
    return jnp.concatenate([values[1:], final_values[None]], axis=0)


def _full_returns(rewards: Array, dones: Array, bootstrap: Array | None) -> Array:
    """Undiscounted return to the episode end: G_t = r_t + (not done_t) * G_{t+1}."""
    ends = _end_mask(dones)
    init = jnp.zeros(rewards.shape[1:], rewards.dtype) if bootstrap is None else bootstrap

    def step(g_next: Array, x: tuple[Array, Array]) -> tuple[Array, Array]:
        r, end = x
        g = r + jnp.where(end, jnp.zeros_like(g_next), g_next)
        return g, g

    _, returns = jax.lax.scan(step, init, (rewards, ends), reverse=True)
    return returns


def _fixed_horizon_scan(
    rewards: Array, dones: Array, horizon: int, bootstrap_by_horizon: Array | None, keep_all: bool
) -> Array:
    """h-step returns for h = 1..M via G^h_t = r_t + (not done_t) * G^{h-1}_{t+1}, G^0 = 0.

    The scan runs over heads (length M), each iteration vectorized over time. G^{h-1}_T (after
    the rollout) is 0 for h = 1 and ``bootstrap_by_horizon[h-2]`` otherwise, so a step whose window
    needs j more rewards beyond the rollout reads exactly row j-1. Returns ``[T, M, *batch]`` if
    ``keep_all`` else the M-step returns ``[T, *batch]``.
    """
    ends = _end_mask(dones)
    batch_shape = rewards.shape[1:]
    zero_row = jnp.zeros((1, *batch_shape), rewards.dtype)
    if bootstrap_by_horizon is None:
        after_rollout = jnp.zeros((horizon, *batch_shape), rewards.dtype)
    else:
        # after_rollout[k] = estimate of G^k at s_T (k rewards), k = 0..M-1. Row M-1 of the
        # bootstrap (M rewards from s_T) is never needed: step T-1 needs at most M-1 more.
        after_rollout = jnp.concatenate([zero_row, bootstrap_by_horizon[: horizon - 1]], axis=0)

    def step(g_prev: Array, g_prev_after: Array) -> tuple[Array, Array | None]:
        g_next = jnp.concatenate([g_prev[1:], g_prev_after[None]], axis=0)
        g = rewards + jnp.where(ends, jnp.zeros_like(g_next), g_next)
        return g, (g if keep_all else None)

    last, all_heads = jax.lax.scan(step, jnp.zeros_like(rewards), after_rollout)
    if keep_all:
        return jnp.moveaxis(all_heads, 0, 1)
    return last


def _check_bootstrap(bootstrap: Array | None, horizon: int | None, batch_shape: tuple) -> None:
    if bootstrap is None:
        return
    if horizon is None:
        _check_same_shape("bootstrap", bootstrap, batch_shape, "V(s_T) for horizon None: [*batch]")
    else:
        _check_same_shape(
            "bootstrap",
            bootstrap,
            (horizon, *batch_shape),
            "fixed-horizon values of s_T for finite horizon M: [M, *batch]",
        )


def horizon_returns(
    rewards: Array,
    dones: Array,
    horizon: int | None,
    bootstrap: Array | None = None,
) -> Array:
    """M-step returns of every step of a rollout, shape ``[T, *batch]``.

    Why: this is the quantity MONA optimizes at each step, the sum of the training rewards of
    steps ``t .. t+M-1`` (or to the episode end for ``horizon=None``), stopping after the first
    done step (termination or time limit, which add nothing). The result for step t depends on
    no reward or value beyond ``t+M-1``; its gradient w.r.t. ``rewards`` is exactly 1 inside the
    window and episode, 0 elsewhere.

    Args:
        rewards: training rewards ``[T, *batch]``.
        dones: ``terminated | truncated`` ``[T, *batch]`` (bool or 0/1).
        horizon: None (full return) or int M >= 1; static under jit.
        bootstrap: optional estimate for the part of a window cut by the rollout end (a window
            reaching past index T-1 with no done in between). For ``horizon=None``: V(s_T),
            shape ``[*batch]``. For finite M: ``bootstrap_by_horizon`` ``[M, *batch]`` where row
            h-1 estimates the sum of the next h rewards from s_T; a step whose window needs j more
            steps uses row j-1 (j <= M-1, so the last row is accepted but never used).
            Without a bootstrap the window is simply cut at the rollout end (the return then
            under-counts such steps; use it only when rollouts end at episode ends).
    """
    horizon = validate_horizon(horizon)
    rewards = jnp.asarray(rewards)
    dones = jnp.asarray(dones)
    _check_time_major(rewards, dones)
    if bootstrap is not None:
        bootstrap = jnp.asarray(bootstrap, dtype=rewards.dtype)
    _check_bootstrap(bootstrap, horizon, rewards.shape[1:])
    if horizon is None:
        return _full_returns(rewards, dones, bootstrap)
    return _fixed_horizon_scan(rewards, dones, horizon, bootstrap, keep_all=False)


def returns_by_horizon(
    rewards: Array,
    dones: Array,
    horizon: int,
    bootstrap_by_horizon: Array | None = None,
) -> Array:
    """h-step returns for every head h = 1..M, shape ``[T, M, *batch]`` (index h-1 on axis 1).

    Why: Monte-Carlo targets for the fixed-horizon critic heads (head h regresses on the h-step
    return), computed in the same pass as the M-step return. ``[:, M-1]`` equals
    ``horizon_returns(rewards, dones, M, bootstrap_by_horizon)``. Bootstrap semantics as there.
    """
    horizon = validate_horizon(horizon)
    if horizon is None:
        raise ValueError(
            "returns_by_horizon needs a finite horizon M >= 1 (one head per horizon); "
            "for horizon None use horizon_returns or gae"
        )
    rewards = jnp.asarray(rewards)
    dones = jnp.asarray(dones)
    _check_time_major(rewards, dones)
    if bootstrap_by_horizon is not None:
        bootstrap_by_horizon = jnp.asarray(bootstrap_by_horizon, dtype=rewards.dtype)
    _check_bootstrap(bootstrap_by_horizon, horizon, rewards.shape[1:])
    return _fixed_horizon_scan(rewards, dones, horizon, bootstrap_by_horizon, keep_all=True)


def horizon_advantages(
    rewards: Array,
    dones: Array,
    values: Array,
    horizon: int | None,
    bootstrap: Array | None = None,
) -> Array:
    """Advantages ``A_t = G^M_t - V^M(s_t)``, shape ``[T, *batch]``.

    Why: the policy gradient of MONA weights each action by how much better than expected its
    M-step return is; the baseline must estimate the *same* M-step quantity, so for finite M it is
    the critic head for horizon M (not a full-horizon value, which would leak the future). With
    ``M = 1`` this is exactly ``r_t - V^1(s_t)``.

    Args:
        rewards, dones: ``[T, *batch]`` as in :func:`horizon_returns`.
        values: baseline ``[T, *batch]``, same shape as rewards: for finite M the M-head,
            i.e. ``values_by_horizon[:, M - 1]`` of a ``[T, M, *batch]`` critic output; for
            ``horizon=None`` the ordinary value V(s_t).
        horizon: None or int M >= 1 (static under jit).
        bootstrap: as in :func:`horizon_returns` (``[*batch]`` for None, ``[M, *batch]`` for M).

    For ``horizon=None`` this is the Monte-Carlo advantage (GAE with gamma = lambda = 1); for a
    discounted, lambda-smoothed full-horizon advantage use :func:`gae`.
    """
    rewards = jnp.asarray(rewards)
    values = jnp.asarray(values)
    _check_same_shape(
        "values", values, rewards.shape, "same as rewards: the horizon-M critic head per step"
    )
    return horizon_returns(rewards, dones, horizon, bootstrap) - values


def fixed_horizon_targets(
    rewards: Array,
    dones: Array,
    next_values_by_horizon: Array,
    horizon: int,
) -> Array:
    """One-step TD targets for each fixed-horizon critic head, shape ``[T, M, *batch]``.

    Head h (index h-1 on axis 1) gets ``r_t + (not done_t) * V^{h-1}(s_{t+1})`` with V^0 = 0.
    Why: V^{h-1}(s_{t+1}) estimates rewards ``t+1 .. t+h-1`` only, so every target for every head
    stays inside the window ``t .. t+M-1``; nothing is ever bootstrapped from a longer horizon, and
    the targets' fixed point is exactly the h-step returns of :func:`returns_by_horizon`. Head 1's
    target is ``r_t`` itself. Done steps (termination or time limit) bootstrap nothing.

    Args:
        rewards, dones: ``[T, *batch]``.
        next_values_by_horizon: ``[T, M, *batch]``, the critic's heads at s_{t+1} (e.g. from
            :func:`next_step_values` with the heads at s_T as ``final_values``). Head M
            (index M-1) is accepted for shape convenience and never used.
        horizon: int M >= 1 (static under jit).
    """
    horizon = validate_horizon(horizon)
    if horizon is None:
        raise ValueError(
            "fixed_horizon_targets needs a finite horizon M >= 1 (one head per horizon); "
            "for horizon None use gae"
        )
    rewards = jnp.asarray(rewards)
    dones = jnp.asarray(dones)
    _check_time_major(rewards, dones)
    next_values_by_horizon = jnp.asarray(next_values_by_horizon, dtype=rewards.dtype)
    batch_shape = rewards.shape[1:]
    _check_same_shape(
        "next_values_by_horizon",
        next_values_by_horizon,
        (rewards.shape[0], horizon, *batch_shape),
        "[T, M, *batch]: critic heads h = 1..M at the next state",
    )
    zero_head = jnp.zeros((rewards.shape[0], 1, *batch_shape), rewards.dtype)
    # shorter[:, h-1] = V^{h-1}(s_{t+1}) for h = 1..M.
    shorter = jnp.concatenate([zero_head, next_values_by_horizon[:, : horizon - 1]], axis=1)
    ends = _end_mask(dones)[:, None]
    return rewards[:, None] + jnp.where(ends, jnp.zeros_like(shorter), shorter)


def gae(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    dones: Array,
    gamma: float,
    lam: float,
    *,
    bootstrap_on_truncation: bool = False,
) -> tuple[Array, Array]:
    """Truncated GAE(lambda) for the full-horizon case; returns ``(advantages, value_targets)``.

    ``delta_t = r_t + gamma * b_t * V(s_{t+1}) - V(s_t)`` and
    ``A_t = delta_t + gamma * lam * (not done_t) * A_{t+1}``, with ``A_T = 0`` after the rollout
    (the rollout-end cut is handled by ``next_values[T-1] = V(s_T)``). The recursion is cut at
    every done, so no advantage crosses an episode boundary. Value targets are ``A_t + V(s_t)``.

    Why the bootstrap ``b_t`` is 0 at truncation too (default): a time limit adds nothing to the
    reward, and our observations contain the time step, so the true value of the state at the
    limit is 0; bootstrapping there (what Stable-Baselines3 does) adds V(final observation) to the
    last step's reward and leaks long-horizon value into it. ``bootstrap_on_truncation=True``
    reproduces that library behaviour for comparison only (then ``b_t = not terminated_t`` and
    ``next_values`` at a truncated step must be V of the final observation, not of the reset
    state); it is the only use of ``terminated``.

    Args:
        rewards, values, next_values, terminated, dones: ``[T, *batch]``; ``next_values[t]`` is V
            of the state after step t within its episode (masked where no bootstrap applies).
            ``terminated`` must imply ``dones``.
        gamma, lam: discount and GAE lambda (may be traced).
    """
    rewards = jnp.asarray(rewards)
    dones = jnp.asarray(dones)
    _check_time_major(rewards, dones)
    for name, x in (("values", values), ("next_values", next_values), ("terminated", terminated)):
        _check_same_shape(name, jnp.asarray(x), rewards.shape, "same as rewards: [T, *batch]")
    values = jnp.asarray(values, dtype=rewards.dtype)
    next_values = jnp.asarray(next_values, dtype=rewards.dtype)
    ends = _end_mask(dones)
    no_bootstrap = _end_mask(terminated) if bootstrap_on_truncation else ends
    boot = jnp.where(no_bootstrap, jnp.zeros_like(next_values), next_values)
    deltas = rewards + gamma * boot - values

    def step(a_next: Array, x: tuple[Array, Array]) -> tuple[Array, Array]:
        delta, end = x
        a = delta + gamma * lam * jnp.where(end, jnp.zeros_like(a_next), a_next)
        return a, a

    init = jnp.zeros(rewards.shape[1:], rewards.dtype)
    _, advantages = jax.lax.scan(step, init, (deltas, ends), reverse=True)
    return advantages, advantages + values


def policy_advantages(
    rewards: Array,
    dones: Array,
    terminated: Array,
    values: Array,
    last_values: Array,
    horizon: int | None,
    gamma: float,
    lam: float,
) -> tuple[Array, Array]:
    """The advantages and critic targets a policy-gradient trainer trains on: the one place
    where the horizon knob reaches a trainer.

    Why one function: a trainer that computed its advantage inline could wire the horizon
    wrongly (say, hand MONA the full-episode return) while every property test of this module
    still passed; trainers call this, and the property tests check this.

    Args:
        rewards, dones, terminated: ``[T, N]`` training rewards and episode-end flags of a
            rollout of N environments (auto-reset).
        values: the critic's heads at every step, ``[T, N, heads]``: one head for
            ``horizon=None``, the fixed-horizon heads 1..M for ``horizon=M``.
        last_values: the heads at the state after the rollout, ``[N, heads]``.
        horizon: None (ordinary RL: truncated GAE with ``gamma``, ``lam``) or M >= 1 (the
            M-step return minus the M-head; a window cut by the rollout end is completed with
            the heads of the state after it, head j for j missing rewards, so nothing beyond
            step t+M-1 reaches step t).

    Returns ``(advantages [T, N], targets [T, N, heads])``: head h's target is the h-step
    return (GAE's value target for ``horizon=None``).
    """
    if horizon is None:
        head = values[..., 0]
        next_values = next_step_values(head, last_values[:, 0])
        advantages, targets = gae(rewards, head, next_values, terminated, dones, gamma, lam)
        return advantages, targets[..., None]
    by_head = jnp.moveaxis(values, -1, 1)  # [T, M, N]
    returns = returns_by_horizon(rewards, dones, horizon, last_values.T)
    advantages = returns[:, horizon - 1] - by_head[:, horizon - 1]
    return advantages, jnp.moveaxis(returns, 1, -1)


def normalize_advantages(advantages: Array) -> Array:
    """Standardize a minibatch's advantages: ``(A - mean) / (std + 1e-8)``.

    Why it cannot pay for a hack: the mean and the standard deviation are one shift and one
    positive scale shared by every sample of the minibatch. A reward beyond step t's window
    moves them, but it moves them for every sample alike, so it does not make step t's action
    any more preferred than the others': a common shift is a baseline, whose contribution
    ``c * sum_a pi(a|s) grad log pi(a|s)`` to the policy gradient is zero in expectation, and a
    positive common scale is a step size, which changes no sign and no order of the samples'
    weights. With the statistics held fixed, step t's normalized advantage depends on exactly
    the rewards its own advantage depends on (``tests/test_horizon.py`` checks both).
    """
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def _turns_and_episodes(shape: tuple[int, ...], group_size: object) -> tuple[int, int]:
    """``(turns, episodes)`` of a ``[turns, episodes]`` reward matrix whose episodes come in
    groups of ``group_size``; raises ValueError naming what is wrong. Shared by the
    language-model trainer's advantages and the check of when MONA's equal ordinary RL's."""
    if len(shape) != 2:
        raise ValueError(f"rewards must be [turns, episodes]; got shape {tuple(shape)}")
    turns, episodes = shape
    if isinstance(group_size, bool) or not isinstance(group_size, numbers.Integral) or (
            group_size < 1 or episodes % int(group_size)):
        raise ValueError(f"group_size={group_size!r} is invalid: must be an int >= 1 that "
                         f"divides the number of episodes ({episodes})")
    return turns, episodes


def turn_advantages(
    rewards: Array,
    horizon: int | None,
    group_size: int,
    scale: bool = True,
) -> Array:
    """Per-turn advantages of a language-model trainer's episodes, shape ``[turns, episodes]``.

    Why here: a language-model episode is a few turns (a summary, then a decision), and MONA's
    whole difference is which turns' rewards reach a turn's tokens. The trainer hands this
    function the ``[turns, episodes]`` matrix of training rewards (observed reward plus
    approval) and gives *every token of turn t* the advantage ``A[t]`` it returns, so the
    horizon math of the JAX trainers and of the language-model trainer is the same function
    (:func:`horizon_returns`: turn t's return sums the training rewards of turns
    ``t .. t+M-1``; ``None`` is the full return, ordinary RL).

    The baseline is group-relative (GRPO): episodes come in consecutive groups of
    ``group_size`` that share one case (the same loan application), and turn t's baseline is
    the mean of the group's turn-t returns; with ``scale`` the difference is divided by the
    group's turn-t standard deviation (+1e-4), as GRPO does. Both statistics are built from
    turn-t returns only, so a reward at turn ``>= t+M`` changes no turn-t advantage, not even
    through the baseline. Every episode has the same number of turns, so the per-turn
    statistics compare like with like (normalising by turn index is biased only when episodes
    have different numbers of turns; verl RFC #7244).

    Args:
        rewards: ``[turns, episodes]`` training rewards; episodes end at the last turn.
        horizon: None or M >= 1 (M >= turns equals None).
        group_size: episodes per group (>= 1; a divisor of ``episodes``). With 1 there is no
            baseline and no scaling: the advantage is the return.
        scale: divide by the group's standard deviation per turn.
    """
    horizon = validate_horizon(horizon)
    rewards = jnp.asarray(rewards)
    turns, episodes = _turns_and_episodes(rewards.shape, group_size)
    dones = jnp.zeros(rewards.shape, bool).at[-1].set(True)
    returns = horizon_returns(rewards, dones, horizon)
    if group_size == 1:
        return returns
    grouped = returns.reshape(turns, episodes // group_size, group_size)
    centred = grouped - grouped.mean(axis=-1, keepdims=True)
    if scale:
        centred = centred / (grouped.std(axis=-1, keepdims=True) + 1e-4)
    return centred.reshape(turns, episodes)


def later_rewards_cancel(rewards: Array, horizon: int | None, group_size: int) -> bool:
    """Whether, for every turn t, the training rewards of turns ``>= t+M`` (those MONA's turn
    t does not see) add up to the same amount in every episode of each group, so that the
    group baseline removes them and MONA's advantages equal ordinary RL's. Without a baseline
    (``group_size`` 1) they must be zero. Decided on the rewards themselves (float64, a
    relative tolerance of 1e-9), not on advantages, where float32 rounding divided by a tiny
    group spread would read as a difference."""
    horizon = validate_horizon(horizon)
    r = np.asarray(rewards, dtype=np.float64)
    turns, episodes = _turns_and_episodes(r.shape, group_size)
    if horizon is None or horizon >= turns:
        return True
    for t in range(turns - horizon):
        later = r[t + horizon:].sum(axis=0)
        tolerance = 1e-9 * (1.0 + float(np.abs(later).max()))
        if group_size == 1:
            if np.abs(later).max() > tolerance:
                return False
        elif np.ptp(later.reshape(episodes // group_size, group_size), axis=1).max() > tolerance:
            return False
    return True


def advantage_gap(
    rewards: Array,
    horizon: int | None,
    group_size: int,
    scale: bool = True,
    advantages: Array | None = None,
) -> float:
    """Mean absolute difference between the per-turn advantages under ``horizon`` and under
    the full return (ordinary RL), for the same ``[turns, episodes]`` training rewards; exactly
    0 where :func:`later_rewards_cancel` (and for ``horizon`` None or >= turns).

    Why: MONA differs from ordinary RL only through the later turns' rewards a turn stops
    seeing, and with a group-relative baseline a later reward that is the same for every
    episode of a group cancels. Where every group's later rewards are constant (a model whose
    code never passes a test: every turn-2 reward 0), MONA's update *is* ordinary RL's, and a
    comparison of the two arms learns nothing from it. The language-model trainer logs this
    gap every update so that a report can say on how many updates that was; it passes the
    ``advantages`` it already computed for ``horizon``, so only ordinary RL's are computed here
    (and none where the later rewards cancel)."""
    if later_rewards_cancel(rewards, horizon, group_size):
        return 0.0
    mine = compiled_turn_advantages(rewards, horizon, group_size, scale) \
        if advantages is None else jnp.asarray(advantages)
    ordinary = compiled_turn_advantages(rewards, None, group_size, scale)
    return float(jnp.abs(mine - ordinary).mean())


_compiled_turn_advantages = jax.jit(turn_advantages, static_argnums=(1, 2, 3))


def compiled_turn_advantages(
    rewards: Array,
    horizon: int | None,
    group_size: int,
    scale: bool = True,
) -> Array:
    """:func:`turn_advantages` of float32 ``rewards`` as one compiled program, cached per
    shape, horizon, group size and scale: what the language-model trainer calls each update.

    Why: op by op the function dispatches a dozen small programs, 50-125 ms a call on the
    2-core machine, about a tenth of a tiny model's update outside generation; compiled it is
    0.05 ms. Its outputs are bit-identical to the op-by-op ones (checked on 1,944 reward
    matrices of 1-3 turns, groups of 2-16, horizons None, 1 and 2, with and without scaling;
    ``tests/test_turn_advantages.py`` keeps checking), so runs made before still reproduce to
    the last digit."""
    horizon = validate_horizon(horizon)
    _turns_and_episodes(np.shape(rewards), group_size)
    return _compiled_turn_advantages(jnp.asarray(rewards, jnp.float32), horizon,
                                     int(group_size), bool(scale))
