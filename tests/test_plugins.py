"""Components from outside the package: the environment and approval of docs/extending.md,
named as ``package.module:ATTR``, through every command; entry points; stochastic tables.

The example files are the documentation: a test checks that docs/extending.md shows them
verbatim, so what a reader copies is what runs here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from monarl.cli.app import main
from monarl.core.config import ConfigError
from monarl.core.protocols import EnvSpec
from monarl.core.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "examples" / "plugins"
DOCS = ROOT / "docs" / "extending.md"
ENV = "tampered_corridor:SPEC"
APPROVAL = "discounted_overseer:SPEC"


@pytest.fixture()
def plugins(monkeypatch):
    """The example folder on the Python path, here and in the sweep's worker processes."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(PLUGINS), os.environ.get("PYTHONPATH", "")) if p))
    import tampered_corridor

    return tampered_corridor


def test_the_docs_show_the_example_files_verbatim():
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", DOCS.read_text(), re.S)
    for name in ("tampered_corridor.py", "discounted_overseer.py", "tampered_corridor.toml"):
        assert (PLUGINS / name).read_text() in blocks, f"docs/extending.md lacks {name}"


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_plugin_environment_through_solve_train_sweep_and_report(plugins, tmp_path, capsys):
    # solve: ordinary RL finds the tampering plan once the horizon reaches it; MONA never
    assert main(["solve", ENV, "--horizons", "1-6,none", "--quiet", "--json",
                 str(tmp_path / "rl.json")]) == 0
    rl = {r["horizon"]: r for r in _json(tmp_path / "rl.json")["results"]}
    assert rl[None]["hack"] == 1.0 and rl[4]["intended"] == 1.0
    assert main(["solve", ENV, "--approval", "trusted", "--horizons", "1,none", "--quiet",
                 "--json", str(tmp_path / "mona.json")]) == 0
    mona = {r["horizon"]: r for r in _json(tmp_path / "mona.json")["results"]}
    assert mona[1]["intended"] == 1.0 and mona[1]["true_return"] > rl[None]["true_return"]

    # train: PPO on the plugin, through one run spec per seed
    assert main(["train", ENV, "--approval", "trusted", "--horizon", "1", "--seeds", "2",
                 "--steps", "2048", "--set", "num_envs=8", "--set", "num_steps=32",
                 "--set", "eval_every=1024", "--quiet", "--json",
                 str(tmp_path / "train.json")]) == 0
    train = _json(tmp_path / "train.json")
    assert train["config"]["env"] == {"name": ENV, "length": 6, "slip": 0.0, "penalty": 0.01,
                                      "max_steps": 20}
    final = train["final"]
    assert sum(final[k] for k in ("fail", "intended", "hack")) == pytest.approx(1.0, abs=1e-5)

    # bad settings of a plugin fail like a built-in's, before anything runs
    assert main(["solve", ENV, "--set", "length=2", "--quiet"]) == 2
    assert "--set length=2 is invalid: must be an integer >= 3" in capsys.readouterr().err
    assert main(["solve", "tampered_corridor:NOPE", "--quiet"]) == 2
    assert "cannot load tampered_corridor:NOPE" in capsys.readouterr().err

    # sweep and report: exactly the file docs/extending.md shows
    experiment = tmp_path / "tampered_corridor.toml"
    experiment.write_text((PLUGINS / "tampered_corridor.toml").read_text())
    assert main(["sweep", str(experiment), "--quiet"]) == 0
    numbers = tmp_path / "numbers.json"
    assert main(["report", str(experiment), "--quiet", "--json", str(numbers)]) == 0
    data = _json(numbers)
    by_variant = {c["variant"]: c["metrics"] for c in data["conditions"]}
    assert set(by_variant) == {"ordinary-rl", "mona"}
    assert all(len(m["hack"]["per_seed"]) == 5 for m in by_variant.values())
    assert by_variant["ordinary-rl"]["hack"]["mean"] > by_variant["mona"]["hack"]["mean"]
    report = (tmp_path / "tampered_corridor.store" / "report" / "report.md").read_text()
    assert "| mona: approval.kind=trusted, horizon=1 | 5 |" in report


def test_plugin_approval_at_gamma_one_is_the_trusted_approval(plugins, tmp_path):
    """The approval example, on a built-in environment and on the plugin one: at gamma = 1
    its table is exactly the trusted approval's; it works through solve like a built-in."""
    from discounted_overseer import approval_table

    from monarl.approval.trusted import trusted_approval
    from monarl.envs import EnvConfig

    for env in (EnvConfig.of(), EnvConfig.of(ENV, slip=0.25)):
        tables = env.tables()
        assert np.array_equal(approval_table(tables, 1.0), trusted_approval(tables))
        assert not np.array_equal(approval_table(tables, 0.5), trusted_approval(tables))
    out = tmp_path / "d.json"
    assert main(["solve", "--approval", APPROVAL, "--set", "gamma=1", "--horizons", "1",
                 "--quiet", "--json", str(out)]) == 0
    assert _json(out)["results"][0]["hack"] == 0.0
    assert main(["solve", "--approval", APPROVAL, "--set", "gamma=1.5", "--quiet"]) == 2


def test_entry_points_register_components_by_name(plugins, tmp_path, monkeypatch, capsys):
    """An installed package's ``monarl.envs`` entry point names an environment."""
    dist = tmp_path / "corridor_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: corridor-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[monarl.envs]\ncorridor = {ENV}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("environment", "monarl.envs", EnvSpec, "env")
    registry.register_builtin("camera-dropbox", "monarl.envs.camera_dropbox:SPEC")
    assert registry.names() == ["camera-dropbox", "corridor"]
    spec = registry.get("corridor")
    assert spec.name == "corridor" and spec.outcomes == ("fail", "intended", "hack")
    with pytest.raises(ConfigError, match="known environments are camera-dropbox, corridor"):
        registry.get("corridoor")

    from monarl.envs import ENVS

    monkeypatch.setattr(ENVS, "_entry_points", None)
    monkeypatch.setattr(ENVS, "_loaded", dict(ENVS._loaded))
    assert main(["envs", "--json"]) == 0
    listed = {record["name"]: record for record in json.loads(capsys.readouterr().out)["envs"]}
    assert listed["corridor"]["capabilities"] == ["jax", "discrete", "tables"]
    assert main(["solve", "corridor", "--horizons", "none", "--quiet"]) == 0


def test_a_spec_of_the_wrong_type_is_refused(plugins):
    registry = Registry("environment", "monarl.envs", EnvSpec, "env")
    with pytest.raises(ConfigError, match="it is a function, not an EnvSpec"):
        registry.get("tampered_corridor:observe")


# --------------------------------------------------------------------------------------------
# Stochastic tables (the corridor with slip > 0): exact against Monte Carlo
# --------------------------------------------------------------------------------------------


def _policy(rng: np.random.Generator, tables) -> np.ndarray:
    """A random time-dependent stochastic policy [T, S, A]."""
    logits = rng.normal(size=(tables.max_steps, tables.num_states, tables.num_actions)) * 1.5
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def _monte_carlo(corridor, settings, policy: np.ndarray, episodes: int, seed: int) -> dict:
    """Run ``policy`` through the environment's own JAX step (table index -> action
    probabilities), independent of the tables' transition arrays."""
    table = jnp.asarray(policy, jnp.float32)
    length = jnp.int32(settings.length)
    step = jax.vmap(corridor.step, in_axes=(0, 0, 0, None))

    @jax.jit
    def run(key):
        k0, key = jax.random.split(key)
        _, state = jax.vmap(corridor.reset, in_axes=(0, None))(
            jax.random.split(k0, episodes), settings)

        def advance(carry, k):
            state, finished, outcome, obs_ret, true_ret = carry
            ka, ks = jax.random.split(k)
            s = corridor.index(state, length)
            probs = table[jnp.minimum(state.t, settings.max_steps - 1), s]
            action = jax.random.categorical(ka, jnp.log(probs))
            _, state, reward, term, trunc, info = step(jax.random.split(ks, episodes), state,
                                                       action, settings)
            live = ~finished
            ends = live & (term | trunc)
            return (state, finished | term | trunc, jnp.where(ends, info["outcome"], outcome),
                    obs_ret + live * reward, true_ret + live * info["true_reward"]), None

        zeros = jnp.zeros(episodes)
        init = (state, jnp.zeros(episodes, bool), jnp.full(episodes, -1), zeros, zeros)
        (_, _, outcome, obs_ret, true_ret), _ = jax.lax.scan(
            advance, init, jax.random.split(key, settings.max_steps))
        return outcome, obs_ret, true_ret

    outcome, obs_ret, true_ret = (np.asarray(x) for x in run(jax.random.PRNGKey(seed)))
    out = {name: (outcome == i).astype(float) for i, name in enumerate(corridor.OUTCOMES)}
    out.update(observed_return=obs_ret, true_return=true_ret)
    return out


def test_stochastic_tables_agree_with_monte_carlo_of_the_jax_rules(plugins):
    """Exact evaluation (distribution propagation over [S, A, K] successors) of random policies
    equals the mean of 40,000 episodes of the JAX environment, within 4.5 standard errors."""
    from monarl.envs import EnvConfig
    from monarl.tabular.evaluate import evaluate

    env = EnvConfig.of(ENV, slip=0.3, max_steps=12)
    tables = env.tables()
    assert tables.branching == 2 and not tables.deterministic
    rng = np.random.default_rng(0)
    for trial in range(2):
        policy = _policy(rng, tables)
        exact = evaluate(tables, policy).as_dicts()[0]
        sampled = _monte_carlo(plugins, env.params(), policy, 40_000, trial)
        for name, values in sampled.items():
            error = values.std() / np.sqrt(len(values)) + 1e-9
            assert abs(values.mean() - exact[name]) < 4.5 * error, (trial, name)
        assert exact["fail"] > 0.01 and exact["hack"] > 0.01  # the policy mixes outcomes


def test_stochastic_value_iteration_is_attained_by_its_greedy_policy(plugins):
    """On stochastic tables the full-horizon optimal value at the start equals the exact
    evaluation of the solver's greedy policy, and PPO's in-jit exact evaluator agrees with
    the tabular one."""
    from monarl.algos import ppo
    from monarl.envs import EnvConfig
    from monarl.tabular.evaluate import evaluate
    from monarl.tabular.value_iteration import horizon_sweep, optimal_values, solve

    env = EnvConfig.of(ENV, slip=0.3)
    tables = env.tables()
    reward = np.broadcast_to(tables.reward_table("observed"),
                             (tables.max_steps, tables.num_states, tables.num_actions))
    values = optimal_values(tables, reward)
    result = evaluate(tables, solve(tables, reward, None)[0]).as_dicts()[0]
    assert result["observed_return"] == pytest.approx(values[0, tables.initial[0]], abs=1e-9)
    assert result["hack"] > 0.9  # ordinary RL still tampers when moves slip
    # the solver's fused scan evaluates its policies as the tabular evaluation does
    for window in ("optimal", "policy"):
        fused = horizon_sweep(tables, reward, [1, 3, None], window=window)
        for i, horizon in enumerate((1, 3, None)):
            alone = evaluate(tables, solve(tables, reward, horizon, window=window)[0])
            assert np.allclose(fused["fractions"][i, 0], alone.outcome_fractions, atol=1e-9)
            assert fused["true_return"][i, 0] == pytest.approx(float(alone.true_return),
                                                               abs=1e-9)

    arrays = ppo.eval_arrays(tables, plugins.observe, env.params())
    probs = _policy(np.random.default_rng(1), tables)
    got = jax.jit(lambda p, a: ppo.exact_evaluation(p, a, plugins.OUTCOMES))(
        jnp.asarray(probs, jnp.float32), arrays)
    want = evaluate(tables, probs).as_dicts()[0]
    for name in ("fail", "intended", "hack", "observed_return", "true_return"):
        assert float(got[name]) == pytest.approx(want[name], abs=2e-5), name

