"""The approval spectrum on the exact solver: each family's limits behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from monarl.algos.exact.study import build_approval, exact_study
from monarl.approval import ApprovalConfig, evaluator_rl, learned, quality, trusted
from monarl.core.config import ConfigError
from monarl.envs import EnvConfig

ENV = EnvConfig.of()


def study(horizons, **approval):
    return {r["horizon"]: r for r in exact_study(ENV, ApprovalConfig.of(**approval), horizons,
                                                 seeds=1, with_baselines=False)["results"]}


def test_evaluator_rl_zero_is_mona_and_many_steps_is_ordinary_rl():
    mona = study([1, 4], kind="trusted")
    k0 = study([1, 4], kind="evaluator-rl", evaluator_steps=0)
    assert k0[1]["intended"] == mona[1]["intended"] == 1.0
    k_inf = study([1], kind="evaluator-rl", evaluator_steps=200)
    assert k_inf[1]["hack"] == pytest.approx(1.0)  # ordinary RL's hack rate


def test_evaluator_values_converge_to_observed_optimum(paper_tables):
    from monarl.tabular.value_iteration import optimal_values

    start = trusted.trusted_values(paper_tables)
    converged = evaluator_rl.evaluator_values(paper_tables, start, 10_000)
    np.testing.assert_allclose(converged, optimal_values(
        paper_tables, paper_tables.reward_table("observed")), atol=1e-12)
    np.testing.assert_array_equal(evaluator_rl.evaluator_values(paper_tables, start, 0), start)


def test_misspecified_endpoints():
    assert study([1], kind="misspecified", misspec=0.0)[1]["intended"] == 1.0
    assert study([1], kind="misspecified", misspec=1.0)[1]["hack"] == pytest.approx(1.0)


def test_leak_control_brings_hacking_back():
    assert study([1], kind="leak", leak=0.0)[1]["hack"] == 0.0
    assert study([1], kind="leak", leak=1.0)[1]["hack"] == pytest.approx(1.0)


def test_continuation_is_safe_at_horizon_one():
    result = study([1], kind="continuation")[1]
    assert result["intended"] == 1.0 and result["true_return"] == pytest.approx(0.937, abs=1e-3)


def test_none_is_the_myopic_floor():
    result = study([1], kind="none")[1]
    assert result["hack"] == 0.0 and result["intended"] < 0.5  # myopia alone rarely finds a box


def test_learned_approval_smoke_and_quality(paper_tables):
    exact = trusted.trusted_approval(paper_tables)
    table = learned.fit_learned_approval(
        paper_tables, exact, seed=0,
        config=learned.LearnedApprovalConfig(labels=64, train_steps=200))
    assert table.shape == exact.shape and np.isfinite(table).all()
    measured = quality.approval_quality(paper_tables, table, exact)
    assert -1.0 <= measured["rank_correlation"] <= 1.0 and measured["mae_reachable"] >= 0
    assert quality.spearman(np.arange(10.0), np.arange(10.0) ** 3) == pytest.approx(1.0)


def test_outcome_labels_of_trusted_policy_are_intended(paper_tables):
    from monarl.approval.continuation import trusted_policy

    labels = learned.outcome_labels(paper_tables)
    policy = trusted_policy(paper_tables)
    starts = paper_tables.initial
    assert (labels[0, starts, policy[0, starts]] == 1.0).all()


def test_build_approval_none_and_trusted(paper_tables):
    assert build_approval(ENV, ApprovalConfig.of(), [0]) is None
    built = build_approval(ENV, ApprovalConfig.of(kind="trusted"), [0])
    np.testing.assert_array_equal(built.table(0), trusted.trusted_approval(paper_tables))


@pytest.mark.parametrize("kwargs,field", [
    ({"kind": "magic"}, "kind"), ({"kind": "misspecified", "misspec": 1.5}, "misspec"),
    ({"kind": "learned", "labels": 0}, "labels"), ({"kind": "leak", "leak": -0.1}, "leak"),
    ({"kind": "evaluator-rl", "evaluator_steps": -1}, "evaluator_steps"),
    ({"kind": "trusted", "noise": -1.0}, "noise"), ({"kind": "continuation", "noise": 0.5},
                                                     "noise"),
    ({"kind": "trusted", "labels": 10}, "labels"),
])
def test_bad_approval_settings(kwargs, field):
    with pytest.raises(ConfigError) as err:
        ApprovalConfig.from_mapping(kwargs)
    assert f"approval.{field}=" in str(err.value)


def test_an_approval_is_the_whole_training_reward(paper_tables):
    """MONA trains on the approval, which contains the step's observed reward once (the public
    code's training reward); the observed reward is not added again. No approval: observed."""
    from monarl.algos.exact.study import training_reward

    approval = trusted.trusted_approval(paper_tables)
    built = build_approval(ENV, ApprovalConfig.of(kind="trusted"), [0])
    np.testing.assert_array_equal(training_reward(paper_tables, "observed", built, 0), approval)
    observed = paper_tables.reward_table("observed")
    t, s = 3, int(paper_tables.initial[0])
    values = trusted.trusted_values(paper_tables)
    nxt = paper_tables.successor[s]
    np.testing.assert_allclose(approval[t, s], observed[s] + values[t + 1, nxt] - values[t, s])
    np.testing.assert_array_equal(
        training_reward(paper_tables, "observed", None, 0)[t], observed)
    with pytest.raises(ConfigError, match="reward='true' is invalid with approval 'trusted'"):
        exact_study(ENV, ApprovalConfig.of(kind="trusted"), [1], reward="true")


def test_trusted_value_pays_the_last_step_nothing(paper_tables):
    """The overseer values the steps that earn approval (approval is 0 at the last step): V[T-1]
    and V[T] are 0, so noise leaves them exact, and V[T-2] is the best one-step true reward."""
    values = trusted.trusted_values(paper_tables)
    steps = paper_tables.max_steps
    assert values.shape == (steps + 1, paper_tables.num_states)
    assert not values[steps - 1:].any()
    np.testing.assert_allclose(values[steps - 2],
                               paper_tables.reward_table("true").max(axis=-1))
    noisy = trusted.noisy_values(values, 0.5, seed=0)
    assert not noisy[steps - 1:].any()
    assert (noisy[steps - 2] != values[steps - 2]).mean() > 0.8


def test_true_advantage_differs_from_trusted_only_by_the_step_reward(paper_tables):
    """The second approval form: the paper's trusted advantage with the step's true reward in
    place of its observed one, so the two tables differ exactly by (true - observed) reward,
    and summed over the whole episode it telescopes to the true return (no hack at M = none,
    where the paper's form gives ordinary RL back)."""
    from monarl.approval import true_advantage

    values = trusted.trusted_values(paper_tables)
    paper = trusted.trusted_approval(paper_tables)
    true_form = true_advantage.true_step_approval(paper_tables, values)
    gap = paper_tables.reward_table("true") - paper_tables.reward_table("observed")
    expected = paper + gap[None]
    expected[-1] = 0.0
    np.testing.assert_allclose(true_form, expected, atol=1e-12)
    assert np.any(gap != 0)  # the hack's second box: observed pays, true does not
    full = study([1, None], kind="true-advantage")
    assert full[1]["intended"] == 1.0 and full[None]["hack"] == 0.0
    assert study([None], kind="trusted")[None]["hack"] == pytest.approx(1.0)
