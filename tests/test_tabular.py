"""The tables are the JAX rules, enumerated: counts and step-by-step agreement."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest

from monarl.envs import camera_dropbox as cd
from monarl.envs.camera_dropbox.tables import TooLargeError, compile_camera_dropbox, count_states
from monarl.tabular.tables import deterministic


def test_paper_counts(paper_tables):
    assert paper_tables.num_states == 1937
    assert len(paper_tables.initial) == 84
    assert count_states(4, 4, 2) == 1937
    assert paper_tables.ended == 1936
    assert (paper_tables.successor[paper_tables.ended] == paper_tables.ended).all()
    assert paper_tables.deterministic and paper_tables.next_state.shape == (1937, 4, 1)


def test_tables_agree_with_jax_step_on_random_trajectories(paper_params, paper_tables):
    """Replay random episodes through cd.step and through the tables: every successor,
    reward and end flag must match."""
    rng = np.random.default_rng(0)
    step = jax.jit(cd.step)
    key = jax.random.PRNGKey(0)
    obs_r, true_r = paper_tables.reward_table("observed"), paper_tables.reward_table("true")
    checked = 0
    for episode in range(40):
        _, state = cd.reset(jax.random.PRNGKey(episode), paper_params)
        index = paper_tables.index_of(state)
        assert index in set(paper_tables.initial.tolist())
        for _t in range(paper_params.max_steps):
            action = int(rng.integers(4))
            _, state, reward, term, trunc, info = step(key, state, action, paper_params)
            nxt = int(paper_tables.successor[index, action])
            assert nxt == paper_tables.index_of(state)
            assert float(reward) == pytest.approx(obs_r[index, action], abs=1e-6)
            assert float(info["true_reward"]) == pytest.approx(true_r[index, action], abs=1e-6)
            assert bool(term) == (nxt == paper_tables.ended and index != paper_tables.ended)
            if term or trunc:
                last = index if term else nxt
                assert int(info["outcome"]) == paper_tables.outcome[last]
                checked += 1
                break
            index = nxt
    assert checked == 40


def _reachable(tables) -> np.ndarray:
    """States some action sequence reaches from a start state (forward fixed point)."""
    reach = np.zeros(tables.num_states, bool)
    reach[tables.initial] = True
    while True:
        grown = reach.copy()
        grown[tables.successor[reach].ravel()] = True
        if np.array_equal(grown, reach):
            np.testing.assert_array_equal(reach, tables.reachable())  # the tables' own
            return reach
        reach = grown


def test_control_has_same_starts_and_no_hack(paper_tables):
    """The hack-free control (blockers 2: one box can never block the camera) starts from the
    same states and no sequence of actions reaches a hack: no reachable state has two boxes
    pushed, while on the hackable board some do."""
    control = compile_camera_dropbox(cd.make_params(blockers=2))
    assert np.array_equal(np.sort(control.initial), np.sort(paper_tables.initial))
    hack = cd.OUTCOMES.index("hack")
    reach = _reachable(control)
    assert reach.sum() > 100  # the control is not trivially small
    assert not np.any(control.outcome[reach] == hack)
    assert np.any(paper_tables.outcome[_reachable(paper_tables)] == hack)


def test_too_large_is_refused_with_a_message():
    params = cd.CameraDropboxParams(rows=9, cols=9, boxes=4, max_steps=5)
    with pytest.raises(TooLargeError, match="states"):
        compile_camera_dropbox(params, with_initial=False)


def _corridor(**fields):
    """A 4-state corridor: 0 -> 1 -> 2 (the goal, entered for +1), 3 ENDED; action 0 stays,
    action 1 moves on; from the goal every action enters ENDED paying 0."""
    successor = np.array([[0, 1], [1, 2], [3, 3], [3, 3]])
    reward = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    base = dict(outcome=np.array([0, 0, 1, -1], np.int32), initial=np.array([0], np.int32),
                ended=3, max_steps=5, outcomes=("fail", "intended", "hack"), settings={})
    return deterministic(successor, reward, reward, **{**base, **fields})


def test_terminal_states_are_validated_and_left_out_of_episode_lengths():
    from monarl.tabular.evaluate import evaluate

    plain = _corridor()
    assert plain.terminal is None and plain.acting.tolist() == [True, True, True, False]
    tables = _corridor(terminal=np.array([False, False, True, False]))
    assert tables.acting.tolist() == [True, True, False, False]
    onward = np.ones((5, 4), np.int64)  # move on: the goal is entered at step 2
    for t, length in ((plain, 3.0), (tables, 2.0)):  # the step from the goal is not counted
        result = evaluate(t, onward).as_dicts()[0]
        assert (result["intended"], result["observed_return"]) == (1.0, 1.0)
        assert result["episode_length"] == length
    for terminal, fragment in (
            (np.array([0, 0, 1, 0]), "must be a bool array [S=4]"),
            (np.array([False, True]), "must be a bool array [S=4]"),
            (np.array([False, False, True, True]), "terminal[ENDED=3] is True"),
            (np.array([False, True, False, False]), "terminal state 1: action 0 goes to state 1"),
    ):
        with pytest.raises(ValueError, match=re.escape(fragment)):
            _corridor(terminal=terminal)
    # a terminal state that pays on its way into ENDED is refused too
    successor = np.array([[0, 1], [1, 2], [3, 3], [3, 3]])
    paying = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.5], [0.0, 0.0]])
    with pytest.raises(ValueError, match="paying observed 0.5"):
        deterministic(successor, paying, paying, outcome=np.array([0, 0, 1, -1], np.int32),
                      initial=np.array([0], np.int32), ended=3, max_steps=5,
                      outcomes=("fail", "intended", "hack"), settings={},
                      terminal=np.array([False, False, True, False]))
