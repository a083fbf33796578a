"""The compiled training programs must not call LAPACK.

Why: jaxlib 0.10's CPU backend runs LAPACK custom calls (QR, Cholesky, ...) on its intra-op
thread pool and, batched under ``vmap``, can wait for work queued behind itself: with two
cores every thread ends up waiting and ``block_until_ready`` never returns (a CI run of the
test suite hung for 90 minutes in PPO's orthogonal initialisation). These tests trace the
programs exactly as the trainers jit them (tracing only, no compilation) and fail if any
LAPACK call is in the lowered module.
"""

from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from monarl.algos import loan_pg, ppo
from monarl.algos.exact.study import build_approval
from monarl.algos.networks import orthogonal
from monarl.approval import ApprovalConfig
from monarl.approval.fact_overseer import FactOverseer
from monarl.envs import EnvConfig
from monarl.envs.loan import rules as loan

TINY = ppo.PPOConfig(num_envs=8, num_steps=16, num_epochs=1, num_minibatches=2, eval_every=128)


def custom_call_targets(lowered_text: str) -> set[str]:
    """Targets of ``stablehlo.custom_call @target(...)`` in a lowered module's text."""
    return set(re.findall(r"custom_call\s+@([\w.]+)", lowered_text))


def assert_no_lapack(lowered) -> None:
    text = lowered.as_text()
    targets = custom_call_targets(text)
    lapack = sorted(t for t in targets if "lapack" in t.lower())
    assert not lapack, f"LAPACK custom calls in the training program: {lapack}"


def test_detector_sees_a_lapack_call():
    """The check can fail: a QR under vmap lowers to a LAPACK custom call it reports."""
    lowered = jax.jit(jax.vmap(jnp.linalg.qr)).lower(jnp.ones((2, 4, 4)))
    with pytest.raises(AssertionError, match="LAPACK"):
        assert_no_lapack(lowered)


@pytest.mark.parametrize("horizon", [None, 1, 3])
def test_ppo_training_program_has_no_lapack(horizon):
    env = EnvConfig.of()
    approval = None if horizon is None else build_approval(env, ApprovalConfig.of("trusted"),
                                                           [0])
    train = ppo.make_train(dataclasses.replace(TINY, total_steps=384), env, approval,
                           horizon=horizon)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(2)])
    args, axes = (None, None) if approval is None else approval.arguments()
    lowered = jax.jit(jax.vmap(train, in_axes=(0, axes, None))).lower(keys, args, None)
    assert_no_lapack(lowered)


def test_loan_training_program_has_no_lapack():
    params = loan.make_params()
    train = loan_pg.make_train(loan_pg.LoanPGConfig(), params, FactOverseer(), 1, num_updates=4)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(2)])
    assert_no_lapack(jax.jit(jax.vmap(train)).lower(keys))


def test_orthogonal_init_equals_qr_with_positive_diagonal():
    for n_in, n_out in [(49, 64), (64, 64), (64, 5), (64, 1), (3, 7)]:
        key = jax.random.PRNGKey(n_in * 100 + n_out)
        got = np.asarray(orthogonal(key, n_in, n_out, 2.0))
        z = np.asarray(jax.random.normal(key, (max(n_in, n_out), min(n_in, n_out)), jnp.float32))
        q, r = np.linalg.qr(z.astype(np.float64))
        q = q * np.sign(np.diag(r))
        want = 2.0 * (q.T if n_in < n_out else q)
        np.testing.assert_allclose(got, want, atol=1e-5)
