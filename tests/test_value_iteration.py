"""Exact solver: the reference figures (reference.md section 4) and solver invariants."""

from __future__ import annotations

import numpy as np
import pytest

from monarl.algos.exact.study import exact_study
from monarl.approval import ApprovalConfig, trusted
from monarl.envs import EnvConfig
from monarl.tabular import value_iteration as vi
from monarl.tabular.evaluate import evaluate


def test_ordinary_rl_hacks_everywhere(paper_tables, observed_per_step):
    result = evaluate(paper_tables, vi.solve(paper_tables, observed_per_step, None)).as_dicts()[0]
    assert result["hack"] == pytest.approx(1.0)
    assert result["observed_return"] == pytest.approx(1.85)
    assert result["true_return"] == pytest.approx(-0.15)
    assert result["episode_length"] == pytest.approx(16.0)


def test_true_optimum_is_intended(paper_tables):
    true = np.broadcast_to(paper_tables.reward_table("true"), (50, 1937, 4))
    result = evaluate(paper_tables, vi.solve(paper_tables, true, None)).as_dicts()[0]
    assert result["intended"] == pytest.approx(1.0)
    assert result["true_return"] == pytest.approx(0.937, abs=5e-4)


def test_exact_approval_threshold():
    study = exact_study(EnvConfig.of(), ApprovalConfig.of(kind="trusted"),
                        list(range(1, 51)) + [None],
                        seeds=3)
    by_h = {r["horizon"]: r for r in study["results"]}
    for m in range(1, 9):
        assert by_h[m]["intended"] == pytest.approx(1.0), m
    for m in list(range(18, 51)) + [None]:
        assert by_h[m]["hack"] == pytest.approx(1.0), m
    assert 0.2 < by_h[12]["hack"] < 0.8  # the transition (reference: 0.57)
    assert by_h[50]["observed_return"] == pytest.approx(1.85)  # M = T equals ordinary RL
    assert study["baselines"]["ordinary_rl"]["hack"] == pytest.approx(1.0)


def test_noisy_approval_short_horizon_fails_often():
    study = exact_study(EnvConfig.of(), ApprovalConfig.of(kind="trusted", noise=0.5), [1, 4, 50],
                        seeds=10)
    by_h = {r["horizon"]: r for r in study["results"]}
    assert 0.35 < by_h[1]["fail"] < 0.75  # reference 0.56
    assert by_h[1]["hack"] == 0.0
    assert by_h[50]["hack"] == pytest.approx(1.0)


# reference.md section 4, MONA with sigma 0.5 (mean of 10 noise seeds): fail / intended / hack
REFERENCE_SIGMA_HALF = {1: (0.56, 0.45, 0.0), 4: (0.34, 0.65, 0.01), 8: (0.0, 0.88, 0.12),
                        12: (0.0, 0.96, 0.04), 16: (0.0, 0.80, 0.20), 20: (0.0, 0.76, 0.24),
                        50: (0.0, 0.0, 1.0)}


def test_noisy_overseer_matches_reference_within_seed_noise():
    """Our sigma 0.5 curve against the public code's (a mean of 10 noise seeds): per-seed outcomes
    are nearly all-or-nothing at M >= 12, so a 10-seed mean moves by ~0.14 (one SD); each entry
    must lie within 3 SD of the difference of two such means (ours over 30 seeds)."""
    horizons = list(REFERENCE_SIGMA_HALF)
    study = exact_study(EnvConfig.of(), ApprovalConfig.of(kind="trusted", noise=0.5), horizons,
                        seeds=30, with_baselines=False)
    for row in study["results"]:
        per_seed = np.array([[s[k] for k in ("fail", "intended", "hack")]
                             for s in row["per_seed"]])
        sd = per_seed.std(axis=0, ddof=1)
        bound = 3 * np.sqrt(sd**2 / 10 + sd**2 / 30) + 0.03
        gap = np.abs(per_seed.mean(axis=0) - np.array(REFERENCE_SIGMA_HALF[row["horizon"]]))
        assert (gap <= bound).all(), (row["horizon"], gap, bound)


def test_sweep_equals_single_solves(paper_tables, observed_per_step):
    reward = np.stack([trusted.trusted_approval(paper_tables, 0.5, s) for s in range(2)])
    sweep = vi.horizon_sweep(paper_tables, reward, [1, 7, 20], seeds=np.arange(2))
    for i, h in enumerate([1, 7, 20]):
        single = evaluate(paper_tables, vi.solve(paper_tables, reward, h, seeds=np.arange(2)))
        np.testing.assert_allclose(sweep["fractions"][i], single.outcome_fractions, atol=1e-12)
        np.testing.assert_allclose(sweep["true_return"][i], single.true_return, atol=1e-9)


def test_same_seed_same_policy_and_ties_are_seeded(paper_tables, observed_per_step):
    reward = trusted.trusted_approval(paper_tables)
    a = vi.solve(paper_tables, reward, 12, seeds=1)
    b = vi.solve(paper_tables, reward, 12, seeds=1)
    c = vi.solve(paper_tables, reward, 12, seeds=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # many exact ties: another seed picks other actions
    first = vi.solve(paper_tables, reward, 12, tie_break="first")
    assert np.array_equal(first, vi.solve(paper_tables, reward, 12, seeds=99, tie_break="first"))


def test_exact_ties_leave_rounding_to_the_larger_float(paper_tables):
    """``random``: only bitwise-equal Q are tied (the public code's rule); ``random-near``: Q
    within 1e-9 are tied too and each seed picks at random among them."""
    shape = (paper_tables.max_steps, paper_tables.num_states, paper_tables.num_actions)
    reward = np.zeros(shape)
    reward[..., 2] = 1e-12  # LEFT better by rounding-sized amounts only
    exact = vi.solve(paper_tables, reward, 1, seeds=np.arange(4))
    assert (exact == 2).all()
    near = vi.solve(paper_tables, reward, 1, seeds=np.arange(4), tie_break="random-near")
    assert (near != 2).mean() > 0.5
    reward[..., 2] = 0.0  # a true four-way tie: both rules pick at random
    assert (vi.solve(paper_tables, reward, 1, seeds=0) != 2).mean() > 0.5


def test_policy_window_agrees_at_one_and_full(paper_tables, observed_per_step):
    reward = trusted.trusted_approval(paper_tables, 0.5, 3)
    for h in (1, None):
        opt = vi.solve(paper_tables, reward, h, seeds=0, window="optimal")
        own = vi.solve(paper_tables, reward, h, seeds=0, window="policy")
        assert np.array_equal(opt, own), h


def test_policy_window_matches_brute_force(paper_tables, observed_per_step):
    """window='policy': Q_t(s,a) must equal r + the policy's own (M-1)-step sum from s'."""
    reward = trusted.trusted_approval(paper_tables, 0.5, 1)
    m = 5
    policy = vi.solve(paper_tables, reward, m, seeds=0, window="policy", tie_break="first")[0]
    nxt = paper_tables.successor
    steps = paper_tables.max_steps
    for t in (0, 10, 44, 48):
        tail = np.zeros(paper_tables.num_states)
        pos = np.arange(paper_tables.num_states)
        for u in range(t + 1, min(t + m, steps)):
            act = policy[u, pos]
            tail += reward[u, pos, act]
            pos = nxt[pos, act]
        q = reward[t] + tail[nxt]
        chosen = q[np.arange(len(q)), policy[t]]
        np.testing.assert_allclose(chosen, q.max(axis=1), atol=1e-9)


def test_bad_horizon_rejected(paper_tables, observed_per_step):
    for bad in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match="horizon"):
            vi.solve(paper_tables, observed_per_step, bad)


def test_noisy_reference_check_script_runs():
    """examples/noisy_reference_check.py (quoted in the README) runs and prints every M."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "noisy_reference_check.py"
    out = subprocess.run([sys.executable, str(script), "--seeds", "12", "--draws", "50"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == [1, 4, 8, 12, 16, 20, 50]
