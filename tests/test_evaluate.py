"""Exact evaluation: distribution propagation and trajectory following agree."""

from __future__ import annotations

import numpy as np
import pytest

from monarl.tabular import value_iteration as vi
from monarl.tabular.evaluate import evaluate


def test_deterministic_paths_agree(paper_tables, observed_per_step):
    policies = vi.solve(paper_tables, observed_per_step, 10, seeds=np.arange(3))
    dist = evaluate(paper_tables, policies)
    roll = vi.evaluate_policies(paper_tables, policies)
    np.testing.assert_allclose(dist.outcome_fractions, roll["fractions"], atol=1e-12)
    np.testing.assert_allclose(dist.observed_return, roll["observed_return"], atol=1e-9)
    np.testing.assert_allclose(dist.episode_length, roll["episode_length"], atol=1e-9)


def test_stochastic_policy_is_mixture(paper_tables, observed_per_step):
    """A state-independent mixture of two policies at t=0 only... simpler: the uniform policy
    evaluates to probabilities that sum to one and returns within bounds; a 50/50 mixture of
    the *same* deterministic policy equals it."""
    pol = vi.solve(paper_tables, observed_per_step, None)[0]
    onehot = np.eye(4)[pol]
    np.testing.assert_allclose(evaluate(paper_tables, onehot).outcome_fractions,
                               evaluate(paper_tables, pol).outcome_fractions)
    uniform = np.full((50, paper_tables.num_states, 4), 0.25)
    res = evaluate(paper_tables, uniform)
    assert res.outcome_fractions.sum() == pytest.approx(1.0)
    assert res.outcome_fractions[0] > 0.5  # random walking rarely pushes a box in


def test_uniform_mixture_of_starts_matches_per_start_average(paper_tables, observed_per_step):
    pol = vi.solve(paper_tables, observed_per_step, 3)[0]
    whole = evaluate(paper_tables, pol).outcome_fractions
    per_start = []
    for s in paper_tables.initial:
        start = np.zeros(paper_tables.num_states)
        start[s] = 1.0
        per_start.append(evaluate(paper_tables, pol, start=start).outcome_fractions)
    np.testing.assert_allclose(np.mean(per_start, axis=0), whole, atol=1e-12)
