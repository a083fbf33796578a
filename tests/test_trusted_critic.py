"""The trusted-critic approval: the paper's trusted advantage with a learned overseer value.

Checked three ways: with the exact trusted value plugged in, its table is the exact trusted
approval; on real environment transitions, the in-rollout formula equals its table for any
value function; and PPO trains with it end to end (on the paper's board, with its quality
against the exact approval, and on a board beyond the tables), while the exact solver refuses
it before any work.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from monarl.algos import TRAINERS, ppo
from monarl.algos.check import check
from monarl.algos.exact.study import exact_study
from monarl.algos.networks import apply_mlp, init_mlp_orthogonal
from monarl.approval import ApprovalConfig, trusted, trusted_critic
from monarl.core.config import ConfigError
from monarl.envs import EnvConfig
from monarl.envs import camera_dropbox as cd
from monarl.tabular.tables import observations

PAPER = EnvConfig.of()
LARGE = EnvConfig.of(rows=10, cols=10, boxes=3)

TINY = {"num_envs": 8, "num_steps": 16, "num_epochs": 1, "num_minibatches": 2, "eval_every": 128}
CRITIC = ApprovalConfig.of(kind="trusted-critic", overseer_steps=2 * 128)


@pytest.fixture(scope="module")
def tables():
    return EnvConfig.of().tables()


def test_with_the_exact_value_the_table_is_the_trusted_approval(tables):
    values = trusted.trusted_values(tables)

    def observations(t, s):  # noqa: F811 - "observations" that carry (t, s), so V is exact
        return jnp.stack([jnp.asarray(t), jnp.asarray(s)], axis=1)

    def value_fn(ts):
        return jnp.asarray(values, jnp.float32)[ts[:, 0], ts[:, 1]]

    table = trusted_critic.critic_table(value_fn, observations, tables)
    np.testing.assert_allclose(table, trusted.trusted_approval(tables), atol=1e-6)


@pytest.mark.slow  # a PPO run; test_ppo_trains_with_it_... keeps the fast tier covered
def test_rollout_formula_equals_its_table_on_real_transitions(tables):
    """Any value function (here a random MLP on observations): the approval computed from a
    step of the real environment equals the table entry of that (t, s, a)."""
    params = cd.make_params()
    mlp = init_mlp_orthogonal(jax.random.PRNGKey(0), (cd.observation_size(params), 16, 1), 1.0)
    value_fn = jax.jit(lambda o: apply_mlp(mlp, o, "tanh")[..., 0])
    table = trusted_critic.critic_table(
        value_fn, lambda t, s: observations(tables, cd.observe, params, t, s), tables)
    rng = np.random.default_rng(1)
    live = np.flatnonzero(np.arange(tables.num_states) != tables.ended)
    s = rng.choice(live, 256)
    t = rng.integers(0, tables.max_steps, 256)
    t[:8] = tables.max_steps - 1  # the last step approves nothing
    t[8:16] = tables.max_steps - 2  # the next state's value is that of the last step: 0
    a = rng.integers(0, 4, 256)
    state = cd.EnvState(agent=jnp.asarray(tables.states.agent[s]),
                        grid=jnp.asarray(tables.states.grid[s]),
                        ended=jnp.zeros(256, bool), t=jnp.asarray(t, jnp.int32))
    obs = jax.vmap(cd.observe, in_axes=(0, None))(state, params)
    keys = jax.random.split(jax.random.PRNGKey(2), 256)
    next_obs, nxt, reward, *_ = jax.vmap(cd.step, in_axes=(0, 0, 0, None))(
        keys, state, jnp.asarray(a), params)
    approval = trusted_critic.critic_approval(value_fn, obs, state.t, state.ended, next_obs,
                                              nxt.ended, reward, tables.max_steps)
    np.testing.assert_allclose(np.asarray(approval), table[t, s, a], atol=1e-5)
    assert np.all(np.asarray(approval)[:8] == 0.0)
    assert np.abs(table[: tables.max_steps - 1]).max() > 0.1  # a non-trivial value function


def test_ppo_trains_with_it_and_reports_the_overseer_and_its_quality():
    result = ppo.run_ppo(approval=CRITIC, horizon=1, seeds=2, steps=2 * 128, **TINY)
    assert result["overseer"]["steps"] == CRITIC.overseer_steps
    assert set(result["overseer"]["final"]) >= {"fail", "intended", "hack", "true_return"}
    for row in result["per_seed"]:
        assert row["fail"] + row["intended"] + row["hack"] == pytest.approx(1.0)
        assert -1.0 <= row["approval_rank_correlation"] <= 1.0
        assert row["approval_mae_visited"] >= 0.0
        assert "overseer_intended" in row
    assert result["config"]["approval_config"]["overseer_steps"] == CRITIC.overseer_steps


@pytest.mark.slow  # a PPO run; test_ppo_trains_with_it_... keeps the fast tier covered
def test_the_overseer_learns_from_the_true_reward_not_the_observed_one():
    """On the hack-free control (blockers 2) a second box can never fall, so the true and the
    observed reward are equal there and training on either, with the same keys, must give
    the same policy; reward='true' with an approval is refused."""
    with pytest.raises(ValueError, match="reward='bogus' is invalid"):
        ppo.make_train(ppo.PPOConfig(total_steps=128, **TINY), PAPER, reward="bogus")
    control = {"blockers": 2}
    a = ppo.run_ppo(env=control, approval="none", seeds=1, steps=2 * 128, **TINY)
    out, _ = ppo.train_seeds(control, "none", seeds=1, steps=2 * 128, reward="true", **TINY)
    assert float(out["final"]["true_return"][0]) == pytest.approx(a["final"]["true_return"],
                                                                  abs=1e-6)
    with pytest.raises(ConfigError, match="reward='true' is invalid with approval"):
        ppo.train_seeds(None, CRITIC, horizon=1, seeds=1, steps=128, reward="true", **TINY)


@pytest.mark.slow  # a PPO run; test_ppo_trains_with_it_... keeps the fast tier covered
def test_it_runs_on_a_board_beyond_the_tables():
    check(LARGE, CRITIC, TRAINERS.get("ppo"))  # no tables needed: accepted
    result = ppo.run_ppo(env=LARGE, approval=CRITIC, horizon=1, seeds=1, steps=128,
                         eval_episodes=32, **TINY)
    assert result["config"]["evaluation"] == "sampled"
    assert "approval_rank_correlation" not in result["per_seed"][0]  # no exact table to compare


def test_the_exact_solver_refuses_it_before_any_work(tmp_path):
    from monarl.experiments.spec import SpecError, parse_sweep

    with pytest.raises(ConfigError, match="exists only in PPO"):
        exact_study(PAPER, ApprovalConfig.of(kind="trusted-critic"), [1])
    with pytest.raises((SpecError, ConfigError),
                       match="approval.kind='trusted-critic' is invalid with algo 'exact'"):
        parse_sweep('[base]\nalgo = "exact"\n[base.approval]\nkind = "trusted-critic"',
                    tmp_path / "x.toml")
    with pytest.raises(ConfigError, match="overseer_steps=0 is invalid"):
        ApprovalConfig.of(kind="trusted-critic", overseer_steps=0)
    with pytest.raises(ConfigError, match="applies only to approval trusted-critic"):
        ApprovalConfig.of(kind="trusted", overseer_steps=5)


@pytest.mark.slow  # a PPO run; test_ppo_trains_with_it_... keeps the fast tier covered
def test_uniform_start_times_change_training_not_the_evaluation():
    """Episodes starting at drawn times give another training run, but every evaluation still
    starts at t = 0: the untrained policy's evaluation (point 0) is the same."""
    config = ppo.PPOConfig(total_steps=2 * 128, **TINY)
    key = jax.random.PRNGKey(0)
    zero = jax.jit(ppo.make_train(config, PAPER))(key)
    uniform = jax.jit(ppo.make_train(config, PAPER, start_time="uniform"))(key)
    assert float(zero["curve"]["intended"][0]) == float(uniform["curve"]["intended"][0])
    assert not np.allclose(np.asarray(zero["params"].critic[0]["w"]),
                           np.asarray(uniform["params"].critic[0]["w"]))
    with pytest.raises(ValueError, match="start_time='noon' is invalid"):
        ppo.make_train(config, PAPER, start_time="noon")
    with pytest.raises(ConfigError, match="overseer_start_time='noon' is invalid"):
        ApprovalConfig.of(kind="trusted-critic", overseer_start_time="noon")


# --------------------------------------------------------------------------------------------
# continuation-rollout: the frozen overseer policy run on inside training
# --------------------------------------------------------------------------------------------


def test_rollout_returns_equal_the_table_continuation_of_the_same_policy(tables):
    """Any deterministic policy (here the argmax of a random MLP): running it from a batch of
    real states gives the table's continuation return G[t, s] of the same policy."""
    from monarl.approval import continuation
    from monarl.approval.continuation_rollout import rollout_returns

    params = cd.make_params()
    mlp = init_mlp_orthogonal(jax.random.PRNGKey(4), (cd.observation_size(params), 16, 4), 1.0)
    greedy = np.asarray(jnp.argmax(ppo.policy_table(
        mlp, ppo.eval_arrays(tables, cd.observe, params), "tanh", tables.max_steps), axis=-1))
    expected = continuation.continuation_returns(tables, greedy)
    # the table policy is only defined on reachable (t, s) pairs: start from some of them
    pair_t, pair_s = ppo.reachable_pairs(tables, tables.max_steps)
    pick = np.random.default_rng(5).choice(len(pair_t), 256, replace=False)
    t, s = pair_t[pick], pair_s[pick]
    t[:4] = tables.max_steps - 1
    state = cd.EnvState(agent=jnp.asarray(tables.states.agent[s]),
                        grid=jnp.asarray(tables.states.grid[s]),
                        ended=jnp.asarray(s == tables.ended), t=jnp.asarray(t, jnp.int32))
    v_step = jax.vmap(cd.step, in_axes=(None, 0, 0, None))

    def step_fn(st, actions):
        _, nxt, reward, term, trunc, _ = v_step(jax.random.PRNGKey(0), st, actions, params)
        return nxt, reward, term | trunc

    # a state at the step limit (t = T) or ENDED has nothing left to collect
    finished = jnp.asarray((t >= tables.max_steps) | (s == tables.ended))
    got = rollout_returns(
        lambda o: jnp.argmax(apply_mlp(mlp, o, "tanh"), axis=-1), state, finished, step_fn,
        lambda st: jax.vmap(cd.observe, in_axes=(0, None))(st, params), tables.max_steps)
    np.testing.assert_allclose(np.asarray(got), expected[t, s], atol=1e-5)
    assert np.ptp(expected[t, s]) > 0.1  # a policy whose continuations differ


def test_continuation_rollout_trains_and_measures_itself_against_the_exact_continuation():
    approval = ApprovalConfig.of(kind="continuation-rollout", overseer_steps=2 * 128)
    result = ppo.run_ppo(approval=approval, horizon=1, seeds=2, steps=2 * 128, **TINY)
    for row in result["per_seed"]:
        assert row["fail"] + row["intended"] + row["hack"] == pytest.approx(1.0)
        assert -1.0 <= row["approval_rank_correlation"] <= 1.0
        assert "overseer_intended" in row
    check(LARGE, approval, TRAINERS.get("ppo"))  # no tables needed: accepted
    with pytest.raises(ConfigError, match="exists only in PPO"):
        exact_study(PAPER, ApprovalConfig.of(kind="continuation-rollout"), [1])
