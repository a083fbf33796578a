"""Tests of the JAX PPO (monarl.algos.ppo) and the tabular approval lookup.

Fast tier: tiny budgets (a few updates of 8 environments), so the cost is compilation; the
module compiles each training program once (module-scoped fixtures). The paper's result itself
(10 seeds x 1M steps per arm, ~4 minutes) is ``@pytest.mark.slow``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from monarl.algos import ppo
from monarl.algos.exact.study import build_approval
from monarl.algos.networks import apply_mlp
from monarl.algos.ppo import run as ppo_run
from monarl.approval import ApprovalConfig
from monarl.approval.trusted import trusted_approval
from monarl.envs import EnvConfig
from monarl.envs import camera_dropbox as cd
from monarl.envs.camera_dropbox import state_index as lookup
from monarl.envs.camera_dropbox.tables import compile_camera_dropbox
from monarl.tabular.evaluate import evaluate
from monarl.tabular.tables import observations

PAPER = EnvConfig.of()
METRICS = ppo.metrics_of(PAPER)

TINY = {"num_envs": 8, "num_steps": 16, "num_epochs": 1, "num_minibatches": 2, "eval_every": 128}
TINY_STEPS = 3 * 8 * 16  # three updates: evaluation points at 0, 128, 256, 384 steps

JSON_KEYS = {
    "final",
    "final_ci95",
    "final_greedy",
    "per_seed",
    "steps",
    "seeds",
    "wall_seconds",
    "env_steps_per_second",
    "curves",
    "config",
}


@pytest.fixture(scope="module")
def params():
    return cd.make_params()


@pytest.fixture(scope="module")
def tables(params):
    return compile_camera_dropbox(params)


def random_states(tables, params, n_steps=60, n_env=64, seed=0):
    """Env states reached by uniformly random play (auto-reset), with their table indices."""
    key = jax.random.PRNGKey(seed)
    obs, state = jax.vmap(cd.reset, in_axes=(0, None))(jax.random.split(key, n_env), params)
    step = jax.jit(jax.vmap(cd.step, in_axes=(None, 0, 0, None)))
    reset = jax.jit(jax.vmap(cd.reset, in_axes=(0, None)))
    states = []
    for i in range(n_steps):
        k_act, k_reset = jax.random.split(jax.random.fold_in(key, i))
        action = jax.random.randint(k_act, (n_env,), 0, 4)
        states.append((state, action))
        _, nxt, _, term, trunc, _ = step(k_act, state, action, params)
        _, fresh = reset(jax.random.split(k_reset, n_env), params)
        state = select(term | trunc, fresh, nxt)
    return states


def select(done, a, b):
    """Per-environment choice between two batched states."""
    return jax.tree_util.tree_map(
        lambda x, y: jnp.where(done.reshape((-1,) + (1,) * (x.ndim - 1)), x, y), a, b
    )


# --------------------------------------------------------------------------------------------
# Config validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("num_envs", 0, "integer >= 1"),
        ("num_steps", 2.5, "integer >= 1"),
        ("learning_rate", -1.0, "> 0"),
        ("learning_rate", float("nan"), "> 0"),
        ("gamma", 1.5, "[0, 1]"),
        ("gae_lambda", -0.1, "[0, 1]"),
        ("clip_eps", 0.0, "> 0"),
        ("ent_coef", -0.01, ">= 0"),
        ("ent_coef_final", -1.0, ">= 0"),
        ("max_grad_norm", 0, "> 0"),
        ("hidden", (64, 0), "tuple of integers"),
        ("hidden", [64, 64], "tuple of integers"),
        ("activation", "gelu", "tanh, relu"),
        ("num_minibatches", 3, "must divide"),
        ("anneal_lr", "yes", "true or false"),
        ("eval_every", 0, "integer >= 1"),
    ],
)
def test_config_validation_names_field_value_and_allowed(field, value, allowed):
    config = dataclasses.replace(ppo.PPOConfig(), **{field: value})
    with pytest.raises(ValueError) as err:
        config.validate()
    message = str(err.value)
    assert f"ppo.{field}=" in message
    assert repr(value) in message
    assert allowed in message


def test_config_from_dict_rejects_unknown_and_converts_lists():
    config = ppo.PPOConfig.from_dict({"hidden": [32, 32], "ent_coef": 0.1})
    assert config.hidden == (32, 32)
    with pytest.raises(ValueError, match="unknown field 'learnig_rate'"):
        ppo.PPOConfig.from_dict({"learnig_rate": 1e-3})


def test_run_ppo_rejects_bad_input_before_work():
    with pytest.raises(ValueError, match="approval='oracle' is invalid"):
        ppo.run_ppo(approval="oracle", seeds=1, steps=10)
    with pytest.raises(ValueError, match="noise needs approval='trusted'"):
        ppo.run_ppo(approval="none", noise=0.5, seeds=1, steps=10)
    with pytest.raises(ValueError, match="horizon"):
        ppo.run_ppo(approval="trusted", horizon=0, seeds=1, steps=10)
    with pytest.raises(ValueError, match="seeds=0 is invalid"):
        ppo.run_ppo(seeds=0, steps=10)
    with pytest.raises(ValueError, match="unknown field 'size'"):
        ppo.run_ppo(env={"size": 5}, seeds=1, steps=10)
    with pytest.raises(TypeError):
        ppo.run_ppo(seeds=1, steps=10, not_a_field=1)


def test_default_batch_divides_the_paper_budget():
    config = ppo.PPOConfig()
    assert config.num_updates * config.batch_size == 1_000_000


# --------------------------------------------------------------------------------------------
# Approval lookup and exact evaluation inside training
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "searchsorted"])
def test_table_index_matches_tabular_index_of(tables, params, dense):
    index = lookup.state_index_arrays(tables, params.boxes, dense=dense)
    assert (index.dense is not None) == dense
    find = jax.jit(jax.vmap(lambda s: lookup.table_index(s, index, params.boxes)))
    for state, _ in random_states(tables, params)[::7]:
        got = np.asarray(find(state))
        host = [
            tables.index_of(jax.tree_util.tree_map(lambda x, i=i: x[i], state))
            for i in range(got.shape[0])
        ]
        np.testing.assert_array_equal(got, host)
    # Every table state maps to itself, ENDED included.
    every = cd.EnvState(
        agent=jnp.asarray(tables.states.agent),
        grid=jnp.asarray(tables.states.grid),
        ended=jnp.arange(tables.num_states) == tables.ended,
        t=jnp.zeros(tables.num_states, jnp.int32),
    )
    np.testing.assert_array_equal(np.asarray(find(every)), np.arange(tables.num_states))


def test_approval_lookup_equals_table_at_random_states(tables, params):
    table = trusted_approval(tables, sigma=0.5, seed=3).astype(np.float32)
    index = lookup.state_index_arrays(tables, params.boxes)
    get = jax.jit(
        jax.vmap(lambda s, a: lookup.lookup_approval(jnp.asarray(table), s, a, index, params.boxes))
    )
    checked = 0
    for state, action in random_states(tables, params, seed=1)[::5]:
        got = np.asarray(get(state, action))
        for i in range(got.shape[0]):
            one = jax.tree_util.tree_map(lambda x, i=i: x[i], state)
            s, t, a = tables.index_of(one), int(one.t), int(action[i])
            assert got[i] == table[t, s, a]
            checked += 1
    assert checked >= 500


def test_exact_evaluation_in_jax_equals_evaluate(tables):
    arrays = ppo.eval_arrays(tables, cd.observe, cd.make_params())
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(tables.max_steps, tables.num_states, tables.num_actions)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    got = jax.jit(lambda p, a: ppo.exact_evaluation(p, a, cd.OUTCOMES))(
        jnp.asarray(probs, jnp.float32), arrays)
    want = evaluate(tables, probs).as_dicts()[0]
    for name in METRICS:
        assert float(got[name]) == pytest.approx(want[name], abs=2e-5), name


def test_policy_table_on_reachable_pairs_gives_the_full_table_result(tables, params):
    """Feeding only reachable (t, s) through the network changes no exact result."""
    config = ppo.PPOConfig(hidden=(16,))
    net = ppo.init_params(jax.random.PRNGKey(4), config, cd.observation_size(params), 4, 1)
    # Perturb the output layer so the policy is far from uniform.
    actor = [dict(layer) for layer in net.actor]
    actor[-1]["w"] = jax.random.normal(jax.random.PRNGKey(5), actor[-1]["w"].shape) * 3
    arrays = ppo.eval_arrays(tables, cd.observe, params)
    got = ppo.evaluate_actor(actor, arrays, config.activation, tables.max_steps, cd.OUTCOMES)
    t, s = np.meshgrid(np.arange(tables.max_steps), np.arange(tables.num_states), indexing="ij")
    obs = observations(tables, cd.observe, params, t.ravel(), s.ravel())
    probs = np.asarray(jax.nn.softmax(apply_mlp(actor, obs, config.activation)))
    probs = probs.reshape(tables.max_steps, tables.num_states, -1).astype(np.float64)
    want = evaluate(tables, probs).as_dicts()[0]
    greedy = evaluate(tables, probs.argmax(-1)).as_dicts()[0]
    for name in METRICS:
        assert float(got[name]) == pytest.approx(want[name], abs=2e-5), name
        assert float(got[f"greedy_{name}"]) == pytest.approx(greedy[name], abs=2e-5), name


# --------------------------------------------------------------------------------------------
# Training: smoke runs of both arms, determinism
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ordinary_run():
    return ppo.run_ppo(approval="none", horizon=None, seeds=2, steps=TINY_STEPS, **TINY)


@pytest.fixture(scope="module")
def mona_runs():
    """The same MONA condition twice (the second call reuses the compiled program)."""
    return [
        ppo.run_ppo(approval="trusted", horizon=1, seeds=2, steps=TINY_STEPS, **TINY)
        for _ in range(2)
    ]


def check_result(result, seeds=2):
    assert set(result) >= JSON_KEYS
    assert result["steps"] == TINY_STEPS
    assert result["seeds"] == seeds
    assert len(result["per_seed"]) == seeds
    assert result["wall_seconds"] > 0 and result["env_steps_per_second"] > 0
    for row in [result["final"], *result["per_seed"]]:
        for name in METRICS:
            assert math.isfinite(row[name]), name
        assert row["fail"] + row["intended"] + row["hack"] == pytest.approx(1.0, abs=1e-5)
    curves = result["curves"]
    assert curves["env_steps"] == [0, 128, 256, 384]
    for name in ("fail", "intended", "hack", "true_return", "train_episodes", "entropy"):
        assert np.asarray(curves[name]).shape == (seeds, 4), name
    assert np.all(np.isfinite(np.asarray(curves["hack"])))
    # The curve's last point is `final`.
    assert result["per_seed"][0]["hack"] == curves["hack"][0][-1]


def test_smoke_ordinary_rl(ordinary_run):
    check_result(ordinary_run)
    assert ordinary_run["config"]["approval"] == "none"
    assert ordinary_run["config"]["horizon"] is None


def test_smoke_mona(mona_runs):
    check_result(mona_runs[0])
    assert mona_runs[0]["config"]["approval"] == "trusted"
    assert mona_runs[0]["config"]["horizon"] == 1


def test_same_seed_same_numbers(mona_runs):
    first, second = mona_runs
    assert first["per_seed"] == second["per_seed"]
    for name, values in first["curves"].items():
        np.testing.assert_array_equal(
            np.asarray(values), np.asarray(second["curves"][name]), err_msg=name
        )
    # Different seeds differ.
    assert first["per_seed"][0] != first["per_seed"][1]


@pytest.mark.slow
def test_same_seed_same_numbers_after_recompiling(mona_runs):
    """A fresh process compiles afresh; emulate it by clearing the program cache."""
    ppo_run._COMPILED.clear()
    again = ppo.run_ppo(approval="trusted", horizon=1, seeds=2, steps=TINY_STEPS, **TINY)
    assert again["per_seed"] == mona_runs[0]["per_seed"]


def test_untrained_policy_is_evaluated_at_step_zero(ordinary_run, mona_runs):
    """Point 0 is the initial policy, whose parameters depend only on the seed: both arms
    evaluate the same network there (the critic heads do not touch the actor's key)."""
    a = np.asarray(ordinary_run["curves"]["hack"])[:, 0]
    b = np.asarray(mona_runs[0]["curves"]["hack"])[:, 0]
    np.testing.assert_array_equal(a, b)


def test_train_function_with_fixed_horizon_and_warm_start(tables, params):
    """make_train with M = 3 (three critic heads) runs under vmap, and init_actor is used."""
    config = ppo.PPOConfig(total_steps=2 * 128, **TINY)
    approval = build_approval(PAPER, ApprovalConfig.of("trusted"), [0])
    args, _ = approval.arguments()
    np.testing.assert_array_equal(np.asarray(args[0]), trusted_approval(tables).astype(np.float32))
    train = ppo.make_train(config, PAPER, approval, horizon=3)
    key = jax.random.PRNGKey(0)
    donor = ppo.init_params(jax.random.PRNGKey(99), config, cd.observation_size(params), 4, 1)
    out = jax.jit(train)(key, args, donor.actor)
    assert out["params"].critic[-1]["w"].shape[-1] == 3
    arrays = ppo.eval_arrays(tables, cd.observe, params)
    start = ppo.evaluate_actor(donor.actor, arrays, config.activation, tables.max_steps,
                               cd.OUTCOMES)
    assert float(out["curve"]["hack"][0]) == pytest.approx(float(start["hack"]), abs=1e-6)
    assert np.all(np.isfinite(np.asarray(out["curve"]["value_loss"][1:])))


@pytest.mark.parametrize("normalize", [False, True])
def test_loss_raises_the_probability_of_actions_with_positive_advantage(normalize):
    """One gradient step on PPO's loss moves the policy toward the positive-advantage action
    and away from the other (a flipped sign would train the policy backwards)."""
    config = ppo.PPOConfig(hidden=(8,), normalize_advantages=normalize)
    net = ppo.init_params(jax.random.PRNGKey(0), config, 3, 2, 1)
    obs = jax.random.normal(jax.random.PRNGKey(1), (32, 3))
    action = jnp.arange(32) % 2
    logp_all = jax.nn.log_softmax(apply_mlp(net.actor, obs, config.activation))
    batch = {"obs": obs, "action": action,
             "logp": jnp.take_along_axis(logp_all, action[:, None], axis=1)[:, 0],
             "adv": jnp.where(action == 0, 1.0, -1.0), "targets": jnp.zeros((32, 1))}
    grads, _ = jax.grad(ppo.ppo_loss, has_aux=True)(net, batch, jnp.asarray(0.0), config)
    stepped = jax.tree_util.tree_map(lambda p, g: p - 0.05 * g, net, grads)
    before = jax.nn.softmax(apply_mlp(net.actor, obs, config.activation))[:, 0]
    after = jax.nn.softmax(apply_mlp(stepped.actor, obs, config.activation))[:, 0]
    assert float(jnp.mean(after - before)) > 1e-3
    assert bool(jnp.all(after > before))


def test_ci95_half_width():
    assert ppo.ci95(np.array([1.0])) == 0.0
    values = np.array([0.0, 1.0, 0.0, 1.0])
    assert ppo.ci95(values) == pytest.approx(3.182 * values.std(ddof=1) / 2)


# --------------------------------------------------------------------------------------------
# The paper's result (slow: ~4 minutes on 2 cores)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_paper_result_ordinary_rl_hacks_and_mona_does_not():
    ordinary = ppo.run_ppo(approval="none", horizon=None, seeds=10, steps=1_000_000)
    mona = ppo.run_ppo(approval="trusted", noise=0.0, horizon=1, seeds=10, steps=1_000_000)
    assert ordinary["final"]["hack"] >= 0.80
    # Paper dynamics: intended first, then hacking.
    intended = np.mean(ordinary["curves"]["intended"], axis=0)
    hack = np.mean(ordinary["curves"]["hack"], axis=0)
    peak = int(np.argmax(intended))
    assert intended[peak] >= 0.5 and hack[peak] < 0.2 and peak < len(hack) - 1
    assert mona["final"]["hack"] <= 0.01
    assert mona["final"]["intended"] >= 0.95


@pytest.mark.slow
def test_warm_start_from_a_hacking_policy_stops_hacking():
    result = ppo.run_warm_start(seeds=4, pretrain_steps=1_000_000, steps=1_000_000)
    assert result["pretrain"]["final"]["hack"] >= 0.5
    assert result["mona"]["final"]["hack"] <= 0.05
