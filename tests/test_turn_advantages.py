"""Property tests of the language-model trainer's horizon math: per-turn advantages
(``monarl.core.horizon.turn_advantages``) and the PPO-clip token loss (``algos.llm.loss``).

The same properties as ``tests/test_horizon.py`` for the JAX trainers: a reward at turn
>= t+M never changes turn t's advantage (checked on values and on the gradient), M >= turns is
ordinary RL, and the loss gives masked (prompt and environment) tokens zero gradient.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monarl.core.horizon import (
    advantage_gap,
    compiled_turn_advantages,
    later_rewards_cancel,
    turn_advantages,
)

SETTINGS = settings(max_examples=15, deadline=None)
shapes = st.tuples(st.integers(1, 4), st.integers(1, 3), st.sampled_from([1, 2, 4]))
horizons = st.sampled_from([None, 1, 2, 3, 5])


def rewards_of(seed: int, turns: int, groups: int, size: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(turns, groups * size)).astype(np.float32)


def numpy_reference(rewards, horizon, size, scale):
    turns, n = rewards.shape
    m = turns if horizon is None else horizon
    returns = np.array([[rewards[t:t + m, i].sum() for i in range(n)] for t in range(turns)])
    if size == 1:
        return returns
    g = returns.reshape(turns, n // size, size)
    out = g - g.mean(-1, keepdims=True)
    if scale:
        out = out / (g.std(-1, keepdims=True) + 1e-4)
    return out.reshape(turns, n)


@SETTINGS
@given(shape=shapes, horizon=horizons, seed=st.integers(0, 2**31), scale=st.booleans())
def test_matches_a_plain_loop(shape, horizon, seed, scale):
    turns, groups, size = shape
    r = rewards_of(seed, turns, groups, size)
    got = np.asarray(turn_advantages(r, horizon, size, scale))
    np.testing.assert_allclose(got, numpy_reference(r, horizon, size, scale), rtol=2e-4,
                               atol=2e-4)


@SETTINGS
@given(shape=shapes, horizon=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**31),
       scale=st.booleans())
def test_a_reward_beyond_the_window_changes_nothing(shape, horizon, seed, scale):
    for advantages in (turn_advantages, compiled_turn_advantages):  # the trainer's is compiled
        _beyond_the_window(advantages, shape, horizon, seed, scale)


def _beyond_the_window(advantages, shape, horizon, seed, scale):
    turns, groups, size = shape
    r = rewards_of(seed, turns, groups, size)
    base = np.asarray(advantages(r, horizon, size, scale))
    for t in range(turns):
        if t + horizon >= turns:
            continue
        moved = r.copy()
        moved[t + horizon:] += np.random.default_rng(seed + 1).normal(
            size=moved[t + horizon:].shape).astype(np.float32) * 5
        again = np.asarray(advantages(moved, horizon, size, scale))
        np.testing.assert_array_equal(again[: t + 1], base[: t + 1])


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 8), st.sampled_from([1, 2, 4, 8, 16])),
       horizon=horizons, seed=st.integers(0, 2**31), scale=st.booleans(),
       kind=st.sampled_from(["normal", "discrete", "fractions"]))
def test_the_compiled_program_is_bit_identical(shape, horizon, seed, scale, kind):
    """The trainer's compiled advantages equal the op-by-op function to the last bit, so a run
    made before the trainer compiled them reproduces exactly (rewards like the environments':
    real numbers, a few discrete levels, ratios of small integers)."""
    turns, groups, size = shape
    rng = np.random.default_rng(seed)
    if kind == "normal":
        r = rng.normal(size=(turns, groups * size))
    elif kind == "discrete":
        r = rng.choice([0.0, 1.0, -1.0, 0.5], size=(turns, groups * size))
    else:
        shape = (turns, groups * size)
        r = rng.integers(0, 7, size=shape) / rng.integers(1, 7, size=shape)
    r = r.astype(np.float32)
    eager = np.asarray(turn_advantages(r, horizon, size, scale))
    compiled = np.asarray(compiled_turn_advantages(r, horizon, size, scale))
    assert compiled.dtype == eager.dtype == np.float32
    np.testing.assert_array_equal(compiled.view(np.uint32), eager.view(np.uint32))


def test_the_compiled_program_refuses_what_the_function_refuses():
    with pytest.raises(ValueError, match="group_size"):
        compiled_turn_advantages(np.zeros((2, 6), np.float32), 1, 4)
    with pytest.raises(ValueError, match="horizon"):
        compiled_turn_advantages(np.zeros((2, 8), np.float32), 0, 4)


@settings(max_examples=8, deadline=None)  # a jax.grad trace per turn and example
@given(shape=shapes, horizon=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**31),
       scale=st.booleans())
def test_the_gradient_beyond_the_window_is_zero(shape, horizon, seed, scale):
    turns, groups, size = shape
    r = rewards_of(seed, turns, groups, size)
    for t in range(turns):
        grad = np.asarray(jax.grad(
            lambda x, t=t: turn_advantages(x, horizon, size, scale)[t].sum())(r))
        assert np.all(grad[t + horizon:] == 0)
        assert np.all(grad[:t] == 0)  # nor does an earlier turn's reward reach it


@SETTINGS
@given(shape=shapes, seed=st.integers(0, 2**31), scale=st.booleans())
def test_a_horizon_as_long_as_the_episode_is_ordinary_rl(shape, seed, scale):
    turns, groups, size = shape
    r = rewards_of(seed, turns, groups, size)
    full = np.asarray(turn_advantages(r, None, size, scale))
    for m in (turns, turns + 3):
        np.testing.assert_allclose(np.asarray(turn_advantages(r, m, size, scale)), full,
                                   rtol=1e-6, atol=1e-6)


def test_myopic_without_baseline_is_the_turns_own_reward():
    r = rewards_of(3, 3, 4, 1)
    np.testing.assert_allclose(np.asarray(turn_advantages(r, 1, 1)), r, rtol=1e-6)


def test_the_group_baseline_is_per_case():
    # two cases of two episodes: turn 1 pays 1 to the second episode of each case
    r = np.array([[0.0, 0.0, 5.0, 5.0], [0.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    adv = np.asarray(turn_advantages(r, None, 2, scale=False))
    np.testing.assert_allclose(adv, [[-0.5, 0.5, -0.5, 0.5], [-0.5, 0.5, -0.5, 0.5]])
    myopic = np.asarray(turn_advantages(r, 1, 2, scale=False))
    np.testing.assert_allclose(myopic[0], 0.0)  # the summary no longer sees the decision


@pytest.mark.parametrize("bad", [0, 3, True, 1.5])
def test_bad_group_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="group_size"):
        turn_advantages(np.zeros((2, 4), np.float32), None, bad)


def test_bad_horizons_are_refused():
    with pytest.raises(ValueError, match="horizon"):
        turn_advantages(np.zeros((2, 4), np.float32), 0, 2)


# ---------------------------------------------------------------- the token loss

torch = pytest.importorskip("torch")


@SETTINGS
@given(seed=st.integers(0, 2**31), clip=st.sampled_from([0.1, 0.2]),
       kl=st.sampled_from([0.0, 0.05]))
def test_masked_tokens_get_zero_gradient(seed, clip, kl):
    from monarl.algos.llm.loss import policy_loss

    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(3, 7, generator=g)).requires_grad_(True)
    old = logp.detach() + 0.1 * torch.randn(3, 7, generator=g)
    ref = logp.detach() + 0.1 * torch.randn(3, 7, generator=g)
    mask = (torch.rand(3, 7, generator=g) < 0.5).float()
    mask[:, -1] = 1
    adv = torch.randn(3, generator=g)
    policy_loss(logp, old, adv, mask, float(mask.sum()), clip, ref, kl).loss.backward()
    assert torch.all(logp.grad[mask == 0] == 0)
    assert torch.any(logp.grad[mask == 1] != 0)


def test_on_the_first_pass_the_ratio_is_one_and_the_gradient_is_the_policy_gradient():
    from monarl.algos.llm.loss import policy_loss

    logp = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    parts = policy_loss(logp, logp.detach(), torch.tensor([2.0]), mask, 2.0, 0.2)
    parts.loss.backward()
    assert parts.ratio_sum == pytest.approx(2.0) and parts.clipped_tokens == 0
    # d/dlogp of -(ratio * A) / tokens at ratio 1 is -A / tokens on every reply token
    np.testing.assert_allclose(logp.grad.numpy(), [[0.0, -1.0, -1.0]])


def test_clipping_stops_the_gradient_beyond_the_range():
    from monarl.algos.llm.loss import policy_loss

    logp = torch.tensor([[np.log(1.5)]], dtype=torch.float32, requires_grad=True)
    parts = policy_loss(logp, torch.zeros(1, 1), torch.tensor([1.0]), torch.ones(1, 1), 1.0, 0.2)
    parts.loss.backward()
    assert parts.clipped_tokens == 1 and logp.grad.item() == 0


# -- how far MONA's advantages are from ordinary RL's (the trainer's advantage_gap) -----------

def plain_gap(rewards, horizon, size, scale):
    return float(np.abs(numpy_reference(rewards, horizon, size, scale)
                        - numpy_reference(rewards, None, size, scale)).mean())


@SETTINGS
@given(shape=shapes, horizon=horizons, seed=st.integers(0, 2**31), scale=st.booleans())
def test_the_gap_is_zero_when_each_groups_later_rewards_are_constant(shape, horizon, seed,
                                                                      scale):
    """A later reward shared by every episode of a group cancels in the group baseline, so
    MONA trains exactly as ordinary RL does (the trainer's ``advantage_gap`` is 0)."""
    turns, groups, size = shape
    r = rewards_of(seed, turns, groups, size)
    m = turns if horizon is None else min(horizon, turns)
    per_group = np.random.default_rng(seed + 1).normal(size=(turns, groups, 1))
    r[m:] = np.broadcast_to(per_group, (turns, groups, size)).reshape(turns, -1)[m:] * (size > 1)
    assert later_rewards_cancel(r, horizon, size)
    assert advantage_gap(r, horizon, size, scale) == 0.0


@SETTINGS
@given(shape=shapes, horizon=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**31))
def test_the_gap_is_the_mean_difference_when_later_rewards_vary(shape, horizon, seed):
    turns, groups, size = shape
    r = rewards_of(seed, turns, groups, size)
    gap = advantage_gap(r, horizon, size, scale=False)
    if horizon >= turns:
        assert gap == 0.0
        return
    assert not later_rewards_cancel(r, horizon, size)  # continuous rewards: they vary
    assert gap == pytest.approx(plain_gap(r, horizon, size, False), rel=1e-4, abs=1e-5)
    assert gap > 0


def test_a_constant_later_reward_still_counts_without_a_baseline():
    """With no group (``group_size`` 1) nothing is subtracted: a later reward of 1 shifts
    ordinary RL's first-turn advantage and MONA's not."""
    r = np.array([[0.5, 0.2], [1.0, 1.0]], dtype=np.float32)
    assert not later_rewards_cancel(r, 1, 1)
    assert advantage_gap(r, 1, 1) == pytest.approx(0.5)  # turn 0 differs by 1, turn 1 by 0
    assert later_rewards_cancel(r, 1, 2) and advantage_gap(r, 1, 2) == 0.0


def test_the_gap_reuses_given_advantages_and_checks_its_arguments():
    r = rewards_of(5, 2, 3, 4)
    mine = np.asarray(turn_advantages(r, 1, 4))
    assert advantage_gap(r, 1, 4, advantages=mine) == advantage_gap(r, 1, 4)
    with pytest.raises(ValueError, match="group_size"):
        advantage_gap(r, 1, 5)
    with pytest.raises(ValueError, match="turns, episodes"):
        later_rewards_cancel(r[0], 1, 4)
