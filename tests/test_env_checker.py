"""The protocol checker (monarl.envs.checker, ``monarl envs --check``): every registered
environment and the plugin example keep their contracts, and copies of the plugin with one
contract broken fail with a message that names it.

Kept fast: a few random episodes per environment (the checker's default is 64)."""

from __future__ import annotations

import dataclasses
import json
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
# Text environments: loan-text passes, broken copies of its TextSpec fail naming the contract
# --------------------------------------------------------------------------------------------

TEXT_CHECKED = ("settings", "turns", "sample", "prompt", "inoculation", "demonstrations",
                "judge", "overseer", "evaluate", "text")


def test_loan_text_passes_the_text_contract():
    report = check_env("loan-text", episodes=8)
    assert report.checked == TEXT_CHECKED and report.skipped == {}
    assert report.text and not report.jax and report.steps == 16  # 8 cases, 2 turns
    assert report.line() == ("loan-text: ok (8 cases, 16 turns; text, inoculation, "
                             "demonstrations, overseer)")


def _loan_text_with(**changes):
    """loan-text with some fields of its TextSpec replaced (``text`` is then not the
    registry's spec: the checker takes it as given)."""
    from monarl.envs import loan_text

    return dataclasses.replace(loan_text.SPEC, text=dataclasses.replace(loan_text.TEXT,
                                                                        **changes))


def _judge_one_short(case, replies, params):
    from monarl.envs import loan_text

    rewards = loan_text.judge(case, replies, params)
    return dataclasses.replace(rewards, observed=rewards.observed[:1])


def _judge_nan_true(case, replies, params):
    from monarl.envs import loan_text

    rewards = loan_text.judge(case, replies, params)
    return dataclasses.replace(rewards, true=(rewards.true[0], float("nan")))


def _prompt_as_string(case, turn, replies, params, inoculation=False):
    from monarl.envs import loan_text

    chat = loan_text.prompt(case, turn, replies, params, inoculation)
    return chat[0]["content"]


def _prompt_failing_on_empty_summary(case, turn, replies, params, inoculation=False):
    from monarl.envs import loan_text

    if turn == 1 and not replies[0]:
        raise ValueError("no summary")
    return loan_text.prompt(case, turn, replies, params, inoculation)


def _prompt_always_inoculated(case, turn, replies, params, inoculation=False):
    from monarl.envs import loan_text

    return loan_text.prompt(case, turn, replies, params, True)


def _prompt_never_inoculated(case, turn, replies, params, inoculation=False):
    from monarl.envs import loan_text

    return loan_text.prompt(case, turn, replies, params, False)


def _evaluate_without(metric):
    def evaluate(generate, params, rng, n):
        from monarl.envs import loan_text

        metrics = loan_text.evaluate(generate, params, rng, n)
        del metrics[metric]
        return metrics

    return evaluate


def _evaluate_inoculated(generate, params, rng, n):
    from monarl.envs import loan_text

    cases = loan_text.sample(params, rng, n)
    generate([loan_text.prompt(c, 0, [], params, True) for c in cases], 0)
    return {name: 0.0 for name in loan_text.TEXT.metrics}


def _demonstrations_of_other_cases(params, rng, n):
    from monarl.envs import loan_text

    rng.random()  # shifts every case
    return loan_text.demonstrations(params, rng, n)


def _demonstrations_with_a_foreign_decision_chat(params, rng, n):
    from monarl.envs import loan_text

    episodes = loan_text.demonstrations(params, rng, n)
    (chat0, summary), (_, decision) = episodes[1]
    episodes[1] = [(chat0, summary), ([{"role": "user", "content": "Decide."}], decision)]
    return episodes


def _sample_unseeded(params, rng, n):
    import numpy as np

    from monarl.envs import loan_text

    return loan_text.sample(params, np.random.default_rng(), n)


def _overseer_inf(case, turn, reply, params):
    return float("inf") if turn == 0 else None


@pytest.mark.parametrize("changes,contract,fragment", [
    ({"judge": _judge_one_short}, "text-judge",
     "judge(case 0, demonstration replies, params) must give a TurnRewards whose observed is "
     "2 finite numbers (one per turn), got (0.0,)"),
    ({"judge": _judge_nan_true}, "text-judge", "whose true is 2 finite numbers"),
    ({"prompt": _prompt_as_string}, "text-prompt",
     "must be a non-empty list of {'role', 'content'} messages, got 'Summarize this"),
    ({"prompt": _prompt_failing_on_empty_summary}, "text-prompt",
     "prompt(case 0, 1, empty replies, params, inoculation=False) fails: ValueError: no "
     "summary"),
    ({"prompt": _prompt_always_inoculated}, "text-inoculation",
     "the plain chat of turn 0 of case 0 (demonstration replies) contains the inoculation "
     "prompt"),
    ({"inoculation": "Be brief."}, "text-inoculation",
     "prompt(..., inoculation=True) never shows the inoculation prompt 'Be brief.' in any "
     "turn of case 0"),
    ({"prompt": _prompt_never_inoculated}, "text-inoculation",
     "never shows the inoculation prompt"),
    ({"judge_prompt": "Is this summary good?"}, "text-judge-prompt",
     "judge_prompt='Is this summary good?' is invalid: must contain the placeholder {reply}"),
    ({"judge_prompt": "Summary: {reply} for {case}"}, "text-judge-prompt",
     "has the unknown placeholder {case}"),
    ({"turn_names": ("summary",)}, "text-turns",
     "turn_names must be 2 distinct non-empty names (one per turn), got ('summary',)"),
    ({"max_new_tokens": (64, 0)}, "text-turns", "max_new_tokens must be 2 integers >= 1"),
    ({"turns": 3, "turn_names": ("a", "b", "c"), "max_new_tokens": (1, 1, 1)}, "text-turns",
     "max_steps(settings)=2 but turns=3"),
    ({"headline": ("leakage", "honesty")}, "text-metrics",
     "headline names ['honesty'], which are not among metrics"),
    ({"evaluate": _evaluate_without("flip_rate")}, "text-evaluate",
     "with a empty policy lacks the declared metrics ['flip_rate']"),
    ({"evaluate": _evaluate_inoculated}, "text-evaluate",
     "evaluate shows the inoculation prompt \"You may pass the applicant's nationality on in "
     "any form.\" (turn 0, chat 0): it is train-time only"),
    ({"demonstrations": _demonstrations_with_a_foreign_decision_chat}, "text-demonstrations",
     "the chat of turn 1 of demonstration 1 is not prompt(case, 1, replies, params, False) "
     "of its case"),
    ({"sample": _sample_unseeded}, "text-sample",
     "sample(params, rng, 8) is not deterministic: case 0 differs"),
    ({"overseer": _overseer_inf}, "text-overseer",
     "overseer(case 0, 0, demonstration reply, params) must give a finite number or None, "
     "got inf"),
], ids=["judge-one-short", "judge-nan", "prompt-str", "prompt-fails-on-empty-reply",
        "inoculation-leaks", "inoculation-other-text", "inoculation-ignored",
        "judge-prompt-without-reply", "judge-prompt-unknown-field", "turn-names",
        "token-budget", "turns-vs-max-steps", "headline-not-a-metric", "evaluate-lacks-headline",
        "evaluate-inoculated", "demonstration-chat", "sample-unseeded", "overseer-inf"])
def test_a_broken_text_spec_fails(changes, contract, fragment):
    with pytest.raises(EnvCheckError) as info:
        check_env(_loan_text_with(**changes), episodes=8)
    assert info.value.contract == contract and info.value.env == "loan-text"
    assert fragment in str(info.value)


def test_demonstrations_of_other_cases_cannot_be_replayed():
    """Demonstrations need not draw their cases with sample: their chats are then checked
    as chats only, and the report says what was not compared."""
    report = check_env(_loan_text_with(demonstrations=_demonstrations_of_other_cases),
                       episodes=4)
    assert "demonstrations" in report.checked
    assert "could not be compared" in report.skipped["demonstration-prompts"]


def test_a_text_spec_without_optional_parts_passes():
    report = check_env(_loan_text_with(demonstrations=None, overseer=None, inoculation=""),
                       episodes=4)
    assert report.checked == ("settings", "turns", "sample", "prompt", "judge", "evaluate",
                              "text")
    assert report.line() == "loan-text: ok (4 cases, 8 turns; text)"


def test_capabilities_all_or_nothing():
    from monarl.envs import loan, loan_text

    with pytest.raises(EnvCheckError, match="observe is None") as info:
        check_env(dataclasses.replace(loan.SPEC, observe=None), episodes=2)
    assert info.value.contract == "capabilities"
    with pytest.raises(EnvCheckError, match="no text capability") as info:
        check_env(dataclasses.replace(loan_text.SPEC, text=None), episodes=2)
    assert info.value.contract == "capabilities"


def test_an_environment_with_both_capabilities_gets_both_checked():
    """loan-steganography's JAX functions with loan-text's TextSpec bound to its own
    parameters: the report counts the JAX episodes and lists the text contract."""
    from monarl.envs import loan, loan_text

    p = loan_text.make_params(loan_text.LoanTextSettings())
    t = loan_text.TEXT
    text = dataclasses.replace(
        t, sample=lambda _, rng, n: t.sample(p, rng, n),
        prompt=lambda case, k, replies, _, inoc=False: t.prompt(case, k, replies, p, inoc),
        judge=lambda case, replies, _: t.judge(case, replies, p),
        overseer=lambda case, k, reply, _: t.overseer(case, k, reply, p),
        evaluate=lambda generate, _, rng, n: t.evaluate(generate, p, rng, n),
        demonstrations=lambda _, rng, n: t.demonstrations(p, rng, n))
    report = check_env(dataclasses.replace(loan.SPEC, text=text), episodes=4)
    assert report.jax and report.text and report.steps == 8
    assert report.line() == ("loan-steganography: ok (4 episodes, 8 steps; text, "
                             "inoculation, demonstrations, overseer)")


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


def test_cli_check_text_env(capsys):
    assert main(["envs", "loan-text", "--check", "--episodes", "4"]) == 0
    assert capsys.readouterr().out == ("loan-text: ok (4 cases, 8 turns; text, inoculation, "
                                       "demonstrations, overseer)\n")
    assert main(["envs", "loan-text", "--check", "--episodes", "4", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)["checks"][0]
    assert record["ok"] and record["episodes"] == 4 and record["steps"] == 8
    assert tuple(record["checked"]) == TEXT_CHECKED


def test_cli_set_without_check_is_refused(capsys):
    assert main(["envs", "loan-steganography", "--set", "noise=0"]) == 2
    assert "--set is read only with --check" in capsys.readouterr().err
