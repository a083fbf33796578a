"""Property tests of the horizon math (monarl.core.horizon) against plain numpy loops.

Shapes are fixed (T x B) and the horizons drawn from a small set, so each jitted function compiles
once per horizon and hypothesis explores random rewards, episode boundaries and values.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monarl.core.horizon import (
    fixed_horizon_targets,
    gae,
    horizon_advantages,
    horizon_returns,
    next_step_values,
    normalize_advantages,
    policy_advantages,
    returns_by_horizon,
    validate_horizon,
)

T, B = 10, 3
HORIZONS = [1, 2, 3, 4, 7, 12]
SETTINGS = settings(max_examples=25, deadline=None)

seeds = st.integers(0, 2**32 - 1)
finite_horizons = st.sampled_from(HORIZONS)
any_horizons = st.sampled_from([None, *HORIZONS])

j_returns = jax.jit(horizon_returns, static_argnames="horizon")
j_by_horizon = jax.jit(returns_by_horizon, static_argnames="horizon")
j_advantages = jax.jit(horizon_advantages, static_argnames="horizon")
j_targets = jax.jit(fixed_horizon_targets, static_argnames="horizon")
j_gae = jax.jit(gae, static_argnames="bootstrap_on_truncation")


def make_rollout(seed: int, p_done: float = 0.25, last_done: bool = False):
    """Random rollout: rewards, terminated, truncated, dones, values, next_values, bootstraps."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    dones = rng.random((T, B)) < p_done
    if last_done:
        dones[-1] = True
    truncated = dones & (rng.random((T, B)) < 0.5)
    terminated = dones & ~truncated
    values = rng.normal(size=(T, B)).astype(np.float32)
    next_values = rng.normal(size=(T, B)).astype(np.float32)
    boot_full = rng.normal(size=(B,)).astype(np.float32)
    boot_heads = rng.normal(size=(max(HORIZONS), B)).astype(np.float32)
    return rewards, terminated, truncated, dones, values, next_values, boot_full, boot_heads


# ---------------------------------------------------------------- plain numpy reference


def ref_returns(rewards, dones, horizon, bootstrap=None):
    """Loop over each step's window; at the rollout-end cut add the bootstrap (row j-1)."""
    n_steps, n_batch = rewards.shape
    out = np.zeros((n_steps, n_batch))
    for b in range(n_batch):
        for t in range(n_steps):
            total, k = 0.0, 0
            while horizon is None or k < horizon:
                i = t + k
                if i >= n_steps:
                    if bootstrap is not None:
                        total += bootstrap[b] if horizon is None else bootstrap[horizon - k - 1, b]
                    break
                total += rewards[i, b]
                if dones[i, b]:
                    break
                k += 1
            out[t, b] = total
    return out


def ref_targets(rewards, dones, next_heads, horizon):
    n_steps, n_batch = rewards.shape
    out = np.zeros((n_steps, horizon, n_batch))
    for t in range(n_steps):
        for h in range(1, horizon + 1):
            for b in range(n_batch):
                shorter = 0.0 if (h == 1 or dones[t, b]) else next_heads[t, h - 2, b]
                out[t, h - 1, b] = rewards[t, b] + shorter
    return out


def ref_gae(rewards, values, next_values, terminated, dones, gamma, lam, boot_trunc=False):
    n_steps, n_batch = rewards.shape
    adv = np.zeros((n_steps, n_batch))
    for b in range(n_batch):
        running = 0.0
        for t in reversed(range(n_steps)):
            stop = terminated[t, b] if boot_trunc else dones[t, b]
            nv = 0.0 if stop else next_values[t, b]
            delta = rewards[t, b] + gamma * nv - values[t, b]
            running = delta + gamma * lam * (0.0 if dones[t, b] else running)
            adv[t, b] = running
    return adv


def episode_end(dones_col, t):
    """Index of the last step of step t's episode within the rollout (T-1 if cut)."""
    for i in range(t, len(dones_col)):
        if dones_col[i]:
            return i
    return len(dones_col) - 1


# ---------------------------------------------------------------- returns


@SETTINGS
@given(seed=seeds, horizon=any_horizons, use_boot=st.booleans())
def test_returns_match_numpy_reference(seed, horizon, use_boot):
    r, _, _, d, _, _, bf, bh = make_rollout(seed)
    boot = None
    if use_boot:
        boot = bf if horizon is None else bh[:horizon]
    got = j_returns(r, d, horizon, boot)
    np.testing.assert_allclose(got, ref_returns(r, d, horizon, boot), rtol=1e-5, atol=1e-5)


@SETTINGS
@given(seed=seeds, horizon=finite_horizons, use_boot=st.booleans())
def test_returns_by_horizon_heads_are_h_step_returns(seed, horizon, use_boot):
    r, _, _, d, _, _, _, bh = make_rollout(seed)
    boot = bh[:horizon] if use_boot else None
    heads = j_by_horizon(r, d, horizon, boot)
    assert heads.shape == (T, horizon, B)
    for h in range(1, horizon + 1):
        ref = ref_returns(r, d, h, None if boot is None else boot[:h])
        np.testing.assert_allclose(heads[:, h - 1], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(heads[:, -1], j_returns(r, d, horizon, boot))


@SETTINGS
@given(seed=seeds, horizon=finite_horizons)
def test_horizon_at_least_episode_length_equals_full_return(seed, horizon):
    r, _, _, d, _, _, _, _ = make_rollout(seed, last_done=True)
    longest = max(
        int(np.max(np.diff(np.concatenate([[-1], np.flatnonzero(d[:, b])])))) for b in range(B)
    )
    full = j_returns(r, d, None)
    if horizon >= longest:
        np.testing.assert_allclose(j_returns(r, d, horizon), full, rtol=0, atol=1e-6)
    # M >= T can never be cut by the horizon, whatever the episodes.
    np.testing.assert_allclose(j_returns(r, d, 12), j_returns(r, d, None), rtol=0, atol=1e-6)


@SETTINGS
@given(seed=seeds)
def test_none_is_full_return_to_episode_end(seed):
    r, _, _, d, _, _, bf, _ = make_rollout(seed)
    got = np.asarray(j_returns(r, d, None))
    got_boot = np.asarray(j_returns(r, d, None, bf))
    for b in range(B):
        for t in range(T):
            end = episode_end(d[:, b], t)
            np.testing.assert_allclose(got[t, b], r[t : end + 1, b].sum(), atol=1e-5)
            cut = not d[end, b]  # episode continues after the rollout
            extra = bf[b] if cut else 0.0
            np.testing.assert_allclose(got_boot[t, b], r[t : end + 1, b].sum() + extra, atol=1e-5)


def test_small_worked_example():
    # Two episodes: steps 0-2 (truncated at 2), steps 3-4 (cut by the rollout end).
    r = jnp.array([1.0, 2.0, 4.0, 8.0, 16.0])
    d = jnp.array([False, False, True, False, False])
    np.testing.assert_array_equal(horizon_returns(r, d, None), [7, 6, 4, 24, 16])
    np.testing.assert_array_equal(horizon_returns(r, d, 1), r)
    np.testing.assert_array_equal(horizon_returns(r, d, 2), [3, 6, 4, 24, 16])
    boot = jnp.array([100.0, 200.0, 300.0])  # next 1, 2, 3 rewards after the rollout
    np.testing.assert_array_equal(horizon_returns(r, d, 3, boot), [7, 6, 4, 124, 216])
    np.testing.assert_array_equal(horizon_returns(r, d, None, jnp.array(1000.0))[3:], [1024, 1016])


# ---------------------------------------------------------------- advantages


@SETTINGS
@given(seed=seeds, use_boot=st.booleans())
def test_horizon_one_advantage_is_reward_minus_value(seed, use_boot):
    r, _, _, d, v, _, _, bh = make_rollout(seed)
    boot = bh[:1] if use_boot else None
    np.testing.assert_array_equal(j_advantages(r, d, v, 1, boot), jnp.asarray(r) - v)


@SETTINGS
@given(seed=seeds, horizon=any_horizons)
def test_advantage_is_return_minus_baseline(seed, horizon):
    r, _, _, d, v, _, bf, bh = make_rollout(seed)
    boot = bf if horizon is None else bh[:horizon]
    ref = ref_returns(r, d, horizon, boot) - v
    np.testing.assert_allclose(j_advantages(r, d, v, horizon, boot), ref, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(seed=seeds, horizon=finite_horizons, data=st.data())
def test_perturbing_reward_outside_window_or_episode_changes_nothing(seed, horizon, data):
    r, _, _, d, v, _, _, bh = make_rollout(seed)
    boot = bh[:horizon]
    t = data.draw(st.integers(0, T - 1), label="t")
    b = data.draw(st.integers(0, B - 1), label="b")
    end = episode_end(d[:, b], t)
    outside = [i for i in range(T) if i >= t + horizon or i > end or i < t]
    if not outside:
        return
    k = data.draw(st.sampled_from(outside), label="k")
    delta = data.draw(st.floats(-1e3, 1e3, allow_nan=False, width=32), label="delta")
    r2 = r.copy()
    r2[k, b] += delta
    before = j_advantages(r, d, v, horizon, boot)
    after = j_advantages(r2, d, v, horizon, boot)
    assert float(after[t, b]) == float(before[t, b])
    assert float(j_returns(r2, d, horizon, boot)[t, b]) == float(
        j_returns(r, d, horizon, boot)[t, b]
    )


def _advantage_jacobian(r, d, v, horizon, boot):
    """d A_t / d r_i for batch column 0: shape [T, T]."""

    def col0(rew):
        return horizon_advantages(rew, d, v, horizon, boot)[:, 0]

    return np.asarray(jax.jit(jax.jacrev(col0))(jnp.asarray(r)))[:, :, 0]


@settings(max_examples=12, deadline=None)
@given(seed=seeds, horizon=any_horizons, use_boot=st.booleans())
def test_advantage_gradient_is_one_inside_window_and_zero_elsewhere(seed, horizon, use_boot):
    r, _, _, d, v, _, bf, bh = make_rollout(seed)
    boot = (bf if horizon is None else bh[:horizon]) if use_boot else None
    jac = _advantage_jacobian(r, d, v, horizon, boot)
    for t in range(T):
        end = episode_end(d[:, 0], t)
        last = end if horizon is None else min(end, t + horizon - 1)
        expected = np.zeros(T)
        expected[t : last + 1] = 1.0
        np.testing.assert_array_equal(jac[t], expected)


@settings(max_examples=12, deadline=None)
@given(seed=seeds, horizon=finite_horizons)
def test_rollout_end_bootstrap_uses_only_the_head_that_remains(seed, horizon):
    r, _, _, d, v, _, _, bh = make_rollout(seed)

    def col0(boot):
        return horizon_returns(r, d, horizon, boot)[:, 0]

    jac = np.asarray(jax.jit(jax.jacrev(col0))(jnp.asarray(bh[:horizon])))[:, :, 0]  # [T, M]
    for t in range(T):
        expected = np.zeros(horizon)
        needed = t + horizon - T  # rewards the window needs beyond the rollout
        if needed >= 1 and not d[t:, 0].any():
            expected[needed - 1] = 1.0
        np.testing.assert_array_equal(jac[t], expected)
    assert not jac[:, horizon - 1].any()  # the M-reward head is never needed


# ---------------------------------------------------------------- truncation


@SETTINGS
@given(seed=seeds, horizon=any_horizons)
def test_truncated_last_step_return_is_its_reward(seed, horizon):
    r, term, trunc, d, v, nv, bf, bh = make_rollout(seed)
    boot = bf if horizon is None else bh[:horizon]
    got = np.asarray(j_returns(r, d, horizon, boot))
    np.testing.assert_array_equal(got[trunc], r[trunc])
    np.testing.assert_array_equal(got[term], r[term])
    adv, _ = j_gae(r, v, nv * 1e6, term, d, 0.99, 0.95)
    np.testing.assert_allclose(np.asarray(adv)[d], (r - v)[d], rtol=1e-6, atol=1e-6)


def test_gae_truncation_bootstrap_only_when_asked():
    r = jnp.array([1.0, 1.0])
    v = jnp.array([0.5, 0.5])
    nv = jnp.array([0.5, 7.0])  # V(s_1) = 0.5; V(final obs after the time limit) = 7
    term = jnp.array([False, False])
    d = jnp.array([False, True])  # step 1 truncated
    adv, targets = gae(r, v, nv, term, d, 1.0, 1.0)
    np.testing.assert_allclose(adv, [1.5, 0.5])
    np.testing.assert_allclose(targets, [2.0, 1.0])
    adv_sb3, _ = gae(r, v, nv, term, d, 1.0, 1.0, bootstrap_on_truncation=True)
    np.testing.assert_allclose(adv_sb3, [8.5, 7.5])


# ---------------------------------------------------------------- GAE


@SETTINGS
@given(
    seed=seeds,
    gamma=st.sampled_from([1.0, 0.99, 0.5]),
    lam=st.sampled_from([1.0, 0.95, 0.0]),
    boot_trunc=st.booleans(),
)
def test_gae_matches_numpy_reference(seed, gamma, lam, boot_trunc):
    r, term, _, d, v, nv, _, _ = make_rollout(seed)
    adv, targets = j_gae(r, v, nv, term, d, gamma, lam, bootstrap_on_truncation=boot_trunc)
    ref = ref_gae(r, v, nv, term, d, gamma, lam, boot_trunc)
    np.testing.assert_allclose(adv, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, ref + v, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(seed=seeds)
def test_gae_with_gamma_lambda_one_is_full_horizon_advantage(seed):
    r, term, _, d, v, _, bf, _ = make_rollout(seed)
    nv = next_step_values(v, bf)
    adv, _ = j_gae(r, v, nv, term, d, 1.0, 1.0)
    expected = j_advantages(r, d, v, None, bf)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- fixed-horizon targets


@SETTINGS
@given(seed=seeds, horizon=finite_horizons)
def test_fixed_horizon_targets_match_reference(seed, horizon):
    r, _, _, d, _, _, _, _ = make_rollout(seed)
    next_heads = np.random.default_rng(seed + 1).normal(size=(T, horizon, B)).astype(np.float32)
    got = j_targets(r, d, next_heads, horizon)
    np.testing.assert_allclose(got, ref_targets(r, d, next_heads, horizon), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got[:, 0], r)  # head 1 never bootstraps


@SETTINGS
@given(seed=seeds, horizon=finite_horizons)
def test_fixed_horizon_td_fixed_point_is_h_step_return(seed, horizon):
    # If every head already equals its h-step return, the TD targets reproduce them exactly.
    r, _, _, d, _, _, _, bh = make_rollout(seed)
    boot = jnp.asarray(bh[:horizon])
    heads = j_by_horizon(r, d, horizon, boot)  # [T, M, B]
    next_heads = next_step_values(heads, boot)
    np.testing.assert_allclose(j_targets(r, d, next_heads, horizon), heads, rtol=1e-5, atol=1e-5)


def test_fixed_horizon_targets_ignore_longest_head_and_done_bootstrap():
    r = jnp.array([[1.0], [2.0]])
    d = jnp.array([[False], [True]])
    next_heads = jnp.array([[[10.0], [20.0], [1e9]], [[30.0], [40.0], [1e9]]])  # [T=2, M=3, 1]
    got = fixed_horizon_targets(r, d, next_heads, 3)
    np.testing.assert_array_equal(got[:, :, 0], [[1.0, 11.0, 21.0], [2.0, 2.0, 2.0]])


# ---------------------------------------------------------------- what the trainers call
#
# PPO trains on ``policy_advantages`` (and normalizes each minibatch with
# ``normalize_advantages``), so the horizon's contract is checked on exactly those functions:
# the gradient of step t's advantage with respect to every reward and every bootstrap value.


def _policy_inputs(seed: int, horizon: int | None):
    r, term, _, d, _, _, _, _ = make_rollout(seed)
    heads = 1 if horizon is None else horizon
    rng = np.random.default_rng(seed + 1)
    values = rng.normal(size=(T, B, heads)).astype(np.float32)
    last = rng.normal(size=(B, heads)).astype(np.float32)
    return r, term, d, values, last


def _window(dones_col: np.ndarray, t: int, horizon: int | None) -> tuple[list[int], int | None]:
    """Steps whose reward counts for step t, and the number of rewards still missing when the
    window reaches the rollout end with its episode still running (None: no cut)."""
    steps, k = [], 0
    while horizon is None or k < horizon:
        i = t + k
        if i >= len(dones_col):
            return steps, (None if horizon is None else horizon - k)
        steps.append(i)
        if dones_col[i]:
            return steps, None
        k += 1
    return steps, None


@functools.partial(jax.jit, static_argnames=("horizon", "normalize", "fixed"))
def _jacobians(r, d, term, values, last, horizon, normalize: bool, fixed: bool):
    """Jitted (one compile per static setting, not one eager trace per example)."""

    def advantages(rewards, last_values):
        adv, _ = policy_advantages(rewards, d, term, values, last_values, horizon, 1.0, 1.0)
        adv = adv.reshape(-1)
        if not normalize:
            return adv
        if fixed:
            mean = jax.lax.stop_gradient(adv.mean())
            std = jax.lax.stop_gradient(adv.std())
            return (adv - mean) / (std + 1e-8)
        return normalize_advantages(adv)

    return jax.jacobian(advantages, argnums=(0, 1))(r, last)


def _advantage_jacobians(r, term, d, values, last, horizon, normalize: bool, fixed: bool):
    """d advantages / d (rewards, last_values), advantages flattened over [T * B] as one
    minibatch; ``fixed`` holds the minibatch statistics fixed (stop_gradient)."""
    jac_r, jac_last = _jacobians(jnp.asarray(r), jnp.asarray(d), jnp.asarray(term),
                                 jnp.asarray(values), jnp.asarray(last), horizon=horizon,
                                 normalize=normalize, fixed=fixed)
    return np.asarray(jac_r).reshape(T, B, T, B), np.asarray(jac_last).reshape(T, B, *last.shape)


@functools.partial(jax.jit, static_argnames="horizon")
def _advantages_and_statistic_gradients(r, d, term, values, last, horizon):
    """The flat advantages and d mean / d rewards, d std / d rewards (jitted, as above)."""

    def statistic(rewards, which):
        adv = policy_advantages(rewards, d, term, values, last, horizon, 1.0, 1.0)[0]
        return adv.mean() if which == "mean" else adv.std()

    adv = policy_advantages(r, d, term, values, last, horizon, 1.0, 1.0)[0]
    return adv, jax.grad(statistic)(r, "mean"), jax.grad(statistic)(r, "std")


@jax.jit
def _expected_score(logits):
    """sum_a pi(a) d log pi(a) / d logits, per state: zero for any policy."""
    score = jax.jacobian(jax.nn.log_softmax)(logits)  # [5, 4, 5, 4]
    return jnp.einsum("sa,satb->stb", jax.nn.softmax(logits), score)


@SETTINGS
@given(seed=seeds, horizon=st.sampled_from([None, 1, 2, 3, 5]), normalize=st.booleans())
def test_trainer_advantage_sees_nothing_beyond_its_window(seed, horizon, normalize):
    """With the minibatch statistics held fixed, step t's (normalized) advantage moves with
    exactly the rewards of steps t .. t+M-1 of its own episode and environment (weight 1, or
    1/std when normalized), and with the bootstrap only where the window is cut by the
    rollout end: head j of the next state for j missing rewards (M-step), or the single head
    (ordinary RL, GAE with gamma = lambda = 1)."""
    r, term, d, values, last = _policy_inputs(seed, horizon)
    jac_r, jac_last = _advantage_jacobians(r, term, d, values, last, horizon, normalize, True)
    if normalize:
        adv, _ = policy_advantages(r, d, term, values, last, horizon, 1.0, 1.0)
        scale = 1.0 / (float(np.asarray(adv).std()) + 1e-8)
    else:
        scale = 1.0
    for b in range(B):
        for t in range(T):
            steps, missing = _window(d[:, b], t, horizon)
            expected = np.zeros((T, B))
            expected[steps, b] = scale
            np.testing.assert_allclose(jac_r[t, b], expected, rtol=1e-4, atol=1e-6,
                                       err_msg=f"step {t}, env {b}, horizon {horizon}")
            expected_last = np.zeros(last.shape)
            if missing is not None:
                expected_last[b, missing - 1] = scale
            elif horizon is None and not d[steps[-1], b]:
                expected_last[b, 0] = scale  # GAE bootstraps V(s_T) for a cut episode
            np.testing.assert_allclose(jac_last[t, b], expected_last, rtol=1e-4, atol=1e-6)


@SETTINGS
@given(seed=seeds, horizon=st.sampled_from([1, 2, 4]))
def test_normalization_reaches_beyond_the_window_only_through_shared_statistics(seed, horizon):
    """Normalizing a minibatch lets a reward beyond step t's window move step t's weight, but
    only through the minibatch's mean and std, one shift and one positive scale common to every
    sample: the full Jacobian minus the fixed-statistics one is exactly
    ``-(dmean + norm_i * dstd) / std`` for every sample i. So the map from advantages to weights
    is the same increasing affine map for every sample (order and signs of differences kept),
    and a shift is a baseline: ``sum_a pi(a) grad log pi(a) = 0`` for any policy."""
    r, term, d, values, last = _policy_inputs(seed, horizon)
    full, _ = _advantage_jacobians(r, term, d, values, last, horizon, True, False)
    fixed, _ = _advantage_jacobians(r, term, d, values, last, horizon, True, True)
    adv, d_mean, d_std = (np.asarray(x, np.float64) for x in _advantages_and_statistic_gradients(
        jnp.asarray(r), jnp.asarray(d), jnp.asarray(term), jnp.asarray(values),
        jnp.asarray(last), horizon=horizon))
    adv = adv.reshape(-1)
    std = adv.std() + 1e-8
    norm = (adv - adv.mean()) / std
    predicted = -(d_mean[None] + norm.reshape(T, B)[..., None, None] * d_std[None]) / std
    np.testing.assert_allclose(full - fixed, predicted, rtol=1e-3, atol=1e-5)
    # increasing and affine: the same positive scale for every pair of samples
    got = np.asarray(normalize_advantages(jnp.asarray(adv, jnp.float32)), np.float64)
    order = np.argsort(adv)
    assert np.all(np.diff(got[order]) >= -1e-6)
    np.testing.assert_allclose(got, norm, rtol=1e-4, atol=1e-5)
    # a common shift is a baseline: its policy-gradient contribution vanishes in expectation
    logits = jnp.asarray(np.random.default_rng(seed).normal(size=(5, 4)), jnp.float32)
    expected_score = _expected_score(logits)
    np.testing.assert_allclose(np.asarray(expected_score), 0.0, atol=1e-6)


@SETTINGS
@given(seed=seeds)
def test_trainer_advantage_with_horizon_covering_the_episodes_equals_ordinary_rl(seed):
    """M >= every episode's length gives ordinary RL's advantage (GAE with gamma = lambda = 1)
    when every episode ends inside the rollout and the baselines agree."""
    r, term, _, d, _, _, _, _ = make_rollout(seed, last_done=True)
    rng = np.random.default_rng(seed)
    baseline = rng.normal(size=(T, B, 1)).astype(np.float32)
    last = rng.normal(size=(B, 1)).astype(np.float32)
    full, _ = policy_advantages(r, d, term, baseline, last, None, 1.0, 1.0)
    heads = np.repeat(baseline, T, axis=-1)
    windowed, targets = policy_advantages(r, d, term, heads, np.repeat(last, T, axis=-1), T,
                                          1.0, 1.0)
    np.testing.assert_allclose(windowed, full, rtol=1e-5, atol=1e-5)
    one, _ = policy_advantages(r, d, term, heads[..., :1], last, 1, 1.0, 1.0)
    np.testing.assert_array_equal(one, jnp.asarray(r) - heads[..., 0])
    assert targets.shape == (T, B, T)


# ---------------------------------------------------------------- jit / vmap / validation


def test_vmap_over_leading_axis_equals_batch_dims():
    r, term, _, d, v, nv, bf, bh = make_rollout(7)
    # vmap over the batch column (moved to a leading axis) equals the batched call.
    batched = horizon_advantages(r, d, v, 3, bh[:3])
    mapped = jax.vmap(
        lambda rr, dd, vv, bb: horizon_advantages(rr, dd, vv, 3, bb), in_axes=(1, 1, 1, 1)
    )(r, d, v, bh[:3])
    np.testing.assert_allclose(mapped.T, batched, rtol=1e-6)
    g_batched, _ = gae(r, v, nv, term, d, 0.9, 0.8)
    g_mapped, _ = jax.vmap(lambda *a: gae(*a, 0.9, 0.8), in_axes=1, out_axes=1)(r, v, nv, term, d)
    np.testing.assert_allclose(g_mapped, g_batched, rtol=1e-6)
    # Extra trailing batch dims work too.
    r4 = jnp.asarray(r).reshape(T, 1, B)
    d4 = jnp.asarray(d).reshape(T, 1, B)
    np.testing.assert_allclose(
        horizon_returns(r4, d4, None, bf.reshape(1, B)).reshape(T, B),
        horizon_returns(r, d, None, bf),
    )


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, False, "3", 2.0, [3]])
def test_validate_horizon_rejects(bad):
    with pytest.raises(ValueError, match="horizon must be None"):
        validate_horizon(bad)
    with pytest.raises(ValueError, match="horizon must be None"):
        horizon_returns(jnp.zeros(3), jnp.zeros(3, bool), bad)


@pytest.mark.parametrize("good", [None, 1, 5, np.int64(3)])
def test_validate_horizon_accepts(good):
    out = validate_horizon(good)
    assert out == good
    assert out is None or type(out) is int


def test_shape_errors_are_clear():
    r = jnp.zeros((4, 2))
    d = jnp.zeros((4, 2), bool)
    with pytest.raises(ValueError, match="dones must have shape"):
        horizon_returns(r, jnp.zeros((4, 3), bool), 2)
    with pytest.raises(ValueError, match=r"bootstrap must have shape \(2, 2\)"):
        horizon_returns(r, d, 2, jnp.zeros((2,)))
    with pytest.raises(ValueError, match="values must have shape"):
        horizon_advantages(r, d, jnp.zeros((4,)), 1)
    with pytest.raises(ValueError, match="next_values_by_horizon must have shape"):
        fixed_horizon_targets(r, d, jnp.zeros((4, 2)), 2)
    with pytest.raises(ValueError, match="finite horizon"):
        fixed_horizon_targets(r, d, jnp.zeros((4, 1, 2)), None)
    with pytest.raises(ValueError, match="finite horizon"):
        returns_by_horizon(r, d, None)
