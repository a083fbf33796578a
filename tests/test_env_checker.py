"""The protocol checker (monarl.envs.checker, ``monarl envs --check``): every registered
environment and the plugin example keep their contracts, and copies of the plugin with one
contract broken fail with a message that names it.

Kept fast: a few random episodes per environment (the checker's default is 64)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from monarl.cli.app import main
from monarl.core.config import ConfigError
from monarl.envs.checker import EnvCheckError, check_env

PLUGINS = Path(__file__).resolve().parents[1] / "examples" / "plugins"
CORRIDOR = "tampered_corridor:SPEC"


@pytest.fixture()
def corridor(monkeypatch):
    """The plugin example, importable as ``tampered_corridor`` (as tests/test_plugins.py)."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    import tampered_corridor

    return tampered_corridor


# --------------------------------------------------------------------------------------------
# Every environment passes
# --------------------------------------------------------------------------------------------

ALL = ("tables", "control", "parse", "gymnasium")


@pytest.mark.filterwarnings("ignore:.*not having a spec")
@pytest.mark.parametrize("env,settings,checked", [
    ("camera-dropbox", {}, ALL),
    ("boat-race", {}, ALL),
    ("absent-supervisor", {}, ALL),
    ("tomato-watering", {"dry_probability": 0.0}, ALL),
    ("tomato-watering", {}, ("control", "parse", "gymnasium")),  # no tables: drying
    ("rocks-diamonds", {"level": 1}, ALL),
], ids=["camera-dropbox", "boat-race", "absent-supervisor", "tomato-dry0", "tomato-drying",
        "rocks-diamonds-level1"])
def test_registered_gridworlds_pass(env, settings, checked):
    report = check_env(env, settings, episodes=8)
    assert report.env == env and report.episodes == 8
    assert {"settings", "reset-step", "episodes", "time-slot", "render"} <= set(report.checked)
    assert tuple(c for c in ALL if c in report.checked) == checked
    assert 8 <= report.steps <= 8 * report_max_steps(env, settings)
    if "tables" not in checked:
        assert "dry_probability=0.05" in report.skipped["tables"]
    assert report.line().startswith(f"{env}: ok (8 episodes, ")


def report_max_steps(env: str, settings: dict) -> int:
    from monarl.envs import EnvConfig

    return EnvConfig.of(env, **settings).max_steps


def test_loan_passes_the_generic_part():
    report = check_env("loan-steganography", episodes=8)
    assert report.steps == 16  # a summary and a decision
    assert not (report.tables or report.control or report.parse or report.gymnasium)
    assert report.skipped == {}
    assert report.line() == "loan-steganography: ok (8 episodes, 16 steps)"


@pytest.mark.parametrize("slip", [0.0, 0.25])
def test_plugin_passes(corridor, slip):
    """Deterministic and stochastic tables; the branch frequencies are compared with the
    probabilities for pairs visited 50 times or more, which the slippery corridor has."""
    report = check_env(CORRIDOR, {"slip": slip}, episodes=32, skip=("gymnasium",))
    assert report.tables and report.settings["slip"] == slip
    assert report.skipped == {"gymnasium": "left out by the caller"}


@pytest.mark.filterwarnings("ignore:.*not having a spec")
def test_plugin_passes_gymnasiums_checker(corridor):
    """The checker found the adapter's table backend storing the JAX reset state of an
    environment without start_states where it steps table indices (IndexError); fixed."""
    assert check_env(CORRIDOR, episodes=4).gymnasium


def test_settings_are_validated_naming_the_field(corridor):
    with pytest.raises(ConfigError, match=r"env\.length=2 is invalid: must be an integer >= 3"):
        check_env(corridor.SPEC, {"length": 2})
    with pytest.raises(ConfigError, match="unknown field 'size'"):
        check_env(corridor.SPEC, {"size": 4})
    with pytest.raises(ConfigError, match="known environments are"):
        check_env("no-such-env")


# --------------------------------------------------------------------------------------------
# Broken copies of the plugin fail, naming the contract
# --------------------------------------------------------------------------------------------


def _step_with(corridor, change):
    def step(key, state, action, params):
        return change(*corridor.step(key, state, action, params))

    return step


def _terminated_at_the_limit(obs, state, reward, terminated, truncated, info):
    return obs, state, reward, terminated | truncated, jnp.zeros_like(truncated), info


def _wider_observation(obs, *rest):
    return (jnp.concatenate([obs, jnp.zeros(1, obs.dtype)]), *rest)


def _wrong_outcome(obs, state, reward, terminated, truncated, info):
    outcome = info["outcome"]
    return obs, state, reward, terminated, truncated, {
        **info, "outcome": jnp.where(outcome >= 0, (outcome + 1) % 3, -1)}


def _early_outcome(obs, state, reward, terminated, truncated, info):
    early = jnp.zeros_like(info["outcome"])  # "fail" from the first step on
    return obs, state, reward, terminated, truncated, {**info, "outcome": early}


def _stuck_clock(obs, state, *rest):
    return (obs, state._replace(t=jnp.minimum(state.t, 3)), *rest)


@pytest.mark.parametrize("change,contract,fragment", [
    (_terminated_at_the_limit, "time-limit",
     "terminated at the time limit (t=20 = max_steps) although the tables' successor is state"),
    (_wider_observation, "observation",
     "step must give a float32 observation of shape [observation_size(params)] = [8], got "
     "float32 of shape [9]"),
    (_wrong_outcome, "tables-outcome", "but tables.outcome["),
    (_early_outcome, "outcome", "on a step that does not end the episode"),
    (_stuck_clock, "state", "t must grow by 1 per step"),
], ids=["terminated-at-limit", "wrong-size-obs", "wrong-outcome", "early-outcome",
        "stuck-clock"])
def test_a_broken_step_fails(corridor, change, contract, fragment):
    broken = dataclasses.replace(corridor.SPEC, step=_step_with(corridor, change))
    with pytest.raises(EnvCheckError) as info:
        check_env(broken, episodes=8)
    assert info.value.contract == contract and info.value.env == "tampered-corridor"
    assert fragment in str(info.value)


def test_a_float64_observation_fails(corridor):
    """Only visible with 64-bit JAX, where an unpinned dtype becomes float64."""
    def reset(key, params):
        obs, state = corridor.reset(key, params)
        return obs.astype(jnp.float32), state

    broken = dataclasses.replace(corridor.SPEC, reset=reset, step=_step_with(
        corridor, lambda obs, *rest: (obs.astype(jnp.float64), *rest)))
    with jax.enable_x64(True), pytest.raises(EnvCheckError, match="got float64 of shape"):
        check_env(broken, episodes=4)


def test_tables_with_one_reward_changed_fail(corridor):
    def compile_tables(params):
        tables = corridor.tables(params)
        observed = tables.observed.copy()
        observed[1, 1, 0] += 0.5  # start cell, move right, no slip
        return dataclasses.replace(tables, observed=observed)

    broken = dataclasses.replace(corridor.SPEC, tables=dataclasses.replace(
        corridor.SPEC.tables, compile=compile_tables))
    with pytest.raises(EnvCheckError) as info:
        check_env(broken, episodes=8)
    assert info.value.contract == "tables-reward"
    assert "(state 1, action 1 -> 2) paid observed reward -0.0099" in str(info.value)
    assert "tables.observed[1, 1, [0]] = [0.49" in str(info.value)


def test_probabilities_that_do_not_sum_to_one_fail(corridor):
    def compile_tables(params):
        tables = corridor.tables(params)
        return dataclasses.replace(tables, probability=tables.probability * 0.5)

    broken = dataclasses.replace(corridor.SPEC, tables=dataclasses.replace(
        corridor.SPEC.tables, compile=compile_tables))
    with pytest.raises(EnvCheckError, match="state 0, action 0 sum to 0.5, not 1"):
        check_env(broken, episodes=2)


def test_a_goal_step_must_terminate_where_the_tables_say_terminal():
    """Absent supervisor's goal is terminal in its tables: entering it must report
    terminated (the old convention, termination one step later on entering ENDED, fails), and
    tables without the terminal mask do not allow termination there."""
    from monarl.envs import absent_supervisor as asup
    from monarl.envs.absent_supervisor import rules

    def late_step(key, state, action, params):  # terminates only on entering ENDED
        obs, nxt, reward, term, trunc, info = asup.step(key, state, action, params)
        late = term & ~rules.at_goal(nxt)
        outcome = jnp.where(late | trunc, info["outcome"], -1)
        return obs, nxt, reward, late, trunc & ~rules.at_goal(nxt), {**info, "outcome": outcome}

    broken = dataclasses.replace(asup.SPEC, step=late_step)
    with pytest.raises(EnvCheckError) as info:
        check_env(broken, episodes=32)
    assert info.value.contract == "tables-ended"
    assert "terminal in the tables, from state" in str(info.value)
    assert "without reporting terminated" in str(info.value)

    def compile_tables(params):
        return dataclasses.replace(asup.tables.compile_tables(params), terminal=None)

    unmarked = dataclasses.replace(asup.SPEC, tables=dataclasses.replace(
        asup.SPEC.tables, compile=compile_tables))
    with pytest.raises(EnvCheckError) as info:
        check_env(unmarked, episodes=32)
    assert info.value.contract == "tables-ended"
    assert "terminated although the tables' successor is state" in str(info.value)
    assert "termination is entering ENDED or a terminal state" in str(info.value)


# --------------------------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------------------------


def test_cli_check_ok_line(capsys):
    assert main(["envs", "loan-steganography", "--check", "--episodes", "4",
                 "--set", "monitor_penalty=0.5"]) == 0
    assert capsys.readouterr().out == "loan-steganography: ok (4 episodes, 8 steps)\n"


def test_cli_check_failure_exits_1(corridor, monkeypatch, capsys):
    from monarl.envs import ENVS

    monkeypatch.setattr(ENVS, "_loaded", dict(ENVS._loaded))
    ENVS.register(dataclasses.replace(corridor.SPEC, name="broken-corridor",
                                      step=_step_with(corridor, _terminated_at_the_limit)))
    assert main(["envs", "broken-corridor", "--check", "--episodes", "4"]) == 1
    out = capsys.readouterr().out.strip().split("\n")
    assert len(out) == 1 and out[0].startswith("broken-corridor: failed: step ")
    assert out[0].endswith("a time limit is truncation, never termination (time-limit)")


@pytest.mark.parametrize("args,fragment", [
    (["no-such-env"], "env='no-such-env' is invalid: known environments are"),
    (["loan-steganography", "--set", "size=3"],
     "--set size=3 is invalid: loan-steganography has no such setting"),
    (["loan-steganography", "--set", "message_length=0"],
     "--set message_length=0 is invalid"),
    (["loan-steganography", "--episodes", "0"], "--episodes=0 is invalid"),
])
def test_cli_check_bad_input_exits_2_with_one_line(capsys, args, fragment):
    assert main(["envs", *args, "--check"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and fragment in err


def test_cli_set_without_check_is_refused(capsys):
    assert main(["envs", "loan-steganography", "--set", "noise=0"]) == 2
    assert "--set is read only with --check" in capsys.readouterr().err
