"""The fast permutation is jax.random.permutation, bit for bit (PPO's numbers depend on it)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monarl.algos import shuffle


def _ties(keys: jax.Array, n: int) -> int:
    """How many of the sorts that permute ``n`` elements for these keys meet equal keys
    (drawn as jax.random draws them)."""
    count = 0
    for key in keys:
        for _ in range(shuffle.num_rounds(n)):
            key, sub = jax.random.split(key)
            bits = np.asarray(jax.random.bits(sub, (n,), np.uint32))
            count += len(np.unique(bits)) < n
    return count


@pytest.mark.parametrize(("n", "keys"), [(0, 10), (1, 10), (2, 100), (7, 100), (2000, 100),
                                         (8000, 400)])
def test_equals_jax_random_permutation_for_many_keys(n, keys):
    """8,000 is PPO's default rollout batch; with 400 keys some of its sorts meet equal random
    keys (ties), where only a stable order by (key, position) agrees."""
    keys = jax.random.split(jax.random.PRNGKey(n), keys)
    ours = jax.jit(jax.vmap(lambda k: shuffle.permutation(k, n)))(keys)
    theirs = jax.jit(jax.vmap(lambda k: jax.random.permutation(k, n)))(keys)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    if n:
        assert (np.sort(np.asarray(ours), axis=1) == np.arange(n)).all()
    if n == 8000:
        assert _ties(keys, n) > 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_equals_jax_random_permutation_for_any_seed(seed):
    key = jax.random.PRNGKey(seed)
    np.testing.assert_array_equal(
        np.asarray(shuffle.permutation(key, 300)), np.asarray(jax.random.permutation(key, 300))
    )


def test_rounds_follow_jax_and_bad_sizes_are_refused():
    assert [shuffle.num_rounds(n) for n in (1, 1000, 8000, 10**7)] == [0, 1, 2, 3]
    for bad in (-1, 2**31, 2.0, True):
        with pytest.raises(ValueError, match="n="):
            shuffle.permutation(jax.random.PRNGKey(0), bad)
