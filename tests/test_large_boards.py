"""Boards too large for the state tables: start layouts found by search, PPO evaluated by
sampled episodes, and table approvals refused before any work.

The search is checked against the exact table rule on every board small enough for both, and
the sampled evaluation against the exact one on the paper's board (same training, two
evaluators), so the large-board path rests on the same rules as the tabulated one.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from monarl.algos import TRAINERS, ppo
from monarl.algos.check import check
from monarl.approval import ApprovalConfig
from monarl.core.config import ConfigError
from monarl.envs import EnvConfig
from monarl.envs import camera_dropbox as cd
from monarl.envs.camera_dropbox import solvability
from monarl.envs.camera_dropbox.tables import MAX_TABULAR_STATES, count_states, solvable_layouts

TINY = {"num_envs": 8, "num_steps": 16, "num_epochs": 1, "num_minibatches": 2, "eval_every": 128}
LARGE = {"rows": 10, "cols": 10, "boxes": 3}  # 16.2M states: beyond the tables


@pytest.mark.parametrize("rows,cols,boxes", [(4, 4, 2), (4, 4, 3), (5, 5, 3), (5, 5, 4),
                                             (6, 6, 2)])
def test_search_equals_the_exact_rule_where_tables_exist(rows, cols, boxes):
    """5 x 5 with 4 boxes has 4 unsolvable layouts, so both answers are exercised."""
    result = solvability.searched_solvable_layouts(rows, cols, boxes)
    assert result.budget_exhausted == 0
    assert set(result.layouts) == set(solvable_layouts(rows, cols, boxes))


def test_a_frozen_block_is_proved_unsolvable():
    """A 2 x 2 block of boxes cannot move: every push runs into another box."""
    block = ((1, 1), (1, 2), (2, 1), (2, 2))
    assert solvability.plan_exists(6, 6, block, (0, 0)) is False
    assert solvability.plan_exists(6, 6, block[:3], (0, 0)) is True
    # Without a blocker the first of two boxes is seen in the hole and the episode ends.
    assert solvability.plan_exists(3, 3, ((1, 1),), (0, 0)) is True


def test_large_board_start_set_is_a_fixed_sample_of_solvable_layouts():
    assert count_states(**LARGE) > MAX_TABULAR_STATES
    params = cd.make_params(**LARGE)
    again = cd.make_params(**LARGE)
    np.testing.assert_array_equal(np.asarray(params.init_grid), np.asarray(again.init_grid))
    layouts = {tuple((int(r), int(c)) for r, c in np.argwhere(g))
               for g in np.asarray(params.init_grid)}
    assert len(layouts) == solvability.MAX_SEARCHED_LAYOUTS
    for layout in list(layouts)[:20]:
        assert solvability.layout_solvable(10, 10, layout) is True
        assert all(0 < r < 9 and 0 < c < 9 for r, c in layout)
    # every free agent cell of each kept layout
    assert params.num_initial_states == len(layouts) * (100 - 3)


@pytest.mark.slow  # two PPO runs; a large-board run stays in the fast tier
def test_sampled_evaluation_matches_exact_and_leaves_training_unchanged():
    """The same training run evaluated both ways on the paper's board: identical parameters
    (the evaluation's random stream is folded off the training key), and the sampled outcome
    fractions and returns within 5 standard errors of the exact ones at every point."""
    env = EnvConfig.of()
    config = ppo.PPOConfig(total_steps=12 * 128, eval_episodes=4096,
                           **{**TINY, "eval_every": 4 * 128})
    key = jax.random.PRNGKey(3)
    exact = jax.jit(ppo.make_train(config, env))(key)
    sampled = jax.jit(ppo.make_train(config, env, sampled_eval=True))(key)
    for a, b in zip(jax.tree_util.tree_leaves(exact["params"]),
                    jax.tree_util.tree_leaves(sampled["params"]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    se_fraction = 0.5 / np.sqrt(config.eval_episodes)
    for name in ("fail", "intended", "hack", "greedy_intended"):
        np.testing.assert_allclose(np.asarray(sampled["curve"][name]),
                                   np.asarray(exact["curve"][name]), atol=5 * se_fraction,
                                   err_msg=name)
    # Returns lie in about [-1, 1] per episode, so their standard error is at most ~2x.
    np.testing.assert_allclose(np.asarray(sampled["curve"]["true_return"]),
                               np.asarray(exact["curve"]["true_return"]),
                               atol=10 * se_fraction)
    assert float(exact["final"]["intended"]) > 0.05  # the check compares a non-trivial policy


def test_ppo_trains_on_a_board_beyond_the_tables():
    result = ppo.run_ppo(env=LARGE, approval="none", seeds=2, steps=2 * 128,
                         eval_episodes=64, **TINY)
    assert result["config"]["evaluation"] == "sampled"
    for row in result["per_seed"]:
        assert row["fail"] + row["intended"] + row["hack"] == pytest.approx(1.0)
    assert result["curves"]["env_steps"] == [0, 128, 256]
    json.dumps(result)  # the train JSON stays plain JSON


def test_table_approvals_are_refused_on_a_board_beyond_the_tables():
    large = EnvConfig.of(rows=10, cols=10, boxes=3)
    check(large, ApprovalConfig.of("none"), TRAINERS.get("ppo"))  # accepted: no table needed
    with pytest.raises(ConfigError) as refused:
        check(large, ApprovalConfig.of("trusted"), TRAINERS.get("ppo"))
    message = str(refused.value)
    assert "16,180,001 states, more than the 3,000,000" in message
    assert "continuation-rollout" in message and "trusted-critic" in message
    with pytest.raises(ValueError, match="approval 'trusted' needs a"):
        ppo.run_ppo(env=LARGE, approval="trusted", horizon=1, seeds=1, steps=128, **TINY)


def test_experiment_files_accept_ordinary_rl_on_a_board_beyond_the_tables(tmp_path):
    from monarl.experiments.spec import parse_sweep

    text = ('[base]\nalgo = "ppo"\nhorizon = "none"\n[base.env]\nrows = 9\ncols = 9\n'
            'boxes = 3\n[base.approval]\nkind = "none"')
    sweep = parse_sweep(text, tmp_path / "large.toml")
    assert sweep.runs[0].env.rows == 9
