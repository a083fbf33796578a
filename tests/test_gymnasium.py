"""Tests of the Gymnasium adapter (monarl.envs.gymnasium); skipped without gymnasium."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from monarl.envs import camera_dropbox as cd  # noqa: E402
from monarl.envs.gymnasium import ENV_ID, CameraDropboxGymEnv, register  # noqa: E402


@pytest.fixture(scope="module")
def table_env():
    return CameraDropboxGymEnv()


@pytest.mark.filterwarnings("ignore:.*not having a spec")
@pytest.mark.parametrize("backend", ["table", "jax"])
def test_gymnasium_env_checker_passes(backend):
    env = CameraDropboxGymEnv(backend=backend)
    assert env.backend == backend
    check_env(env, skip_render_check=True)
    check_env(CameraDropboxGymEnv(backend=backend, render_mode="ansi"))


def test_spaces_and_reset(table_env):
    assert table_env.action_space == gym.spaces.Discrete(4)
    assert table_env.observation_space.shape == (cd.observation_size(table_env.params),)
    obs, info = table_env.reset(seed=3)
    assert table_env.observation_space.contains(obs)
    assert obs[0] == 0.0 and 0 <= info["start"] < table_env.num_starts == 84
    again, info2 = table_env.reset(seed=3)
    np.testing.assert_array_equal(obs, again)
    assert info2 == info


def test_backends_agree_step_for_step():
    """Same starts, same random actions: identical observations, rewards, flags and infos."""
    table, jax_env = CameraDropboxGymEnv(backend="table"), CameraDropboxGymEnv(backend="jax")
    rng = np.random.default_rng(0)
    for start in rng.choice(84, size=4, replace=False):
        o1, _ = table.reset(options={"start": int(start)})
        o2, _ = jax_env.reset(options={"start": int(start)})
        np.testing.assert_allclose(o1, o2)
        assert table.render() == jax_env.render()
        done = False
        while not done:
            action = int(rng.integers(4))
            r1, r2 = table.step(action), jax_env.step(action)
            np.testing.assert_allclose(r1[0], r2[0], atol=1e-7)
            assert r1[1] == pytest.approx(r2[1], abs=1e-6)
            assert r1[2:4] == r2[2:4]
            assert r1[4]["outcome"] == r2[4]["outcome"]
            assert r1[4]["true_reward"] == pytest.approx(r2[4]["true_reward"], abs=1e-6)
            done = r1[2] or r1[3]


def shortest_actions_to(env: CameraDropboxGymEnv, start: int, outcome: int) -> list[int]:
    """Breadth-first search in the tables for the shortest action sequence from start layout
    ``start`` that ends the episode (enters ENDED) with ``outcome``."""
    tables = env._tables
    first = int(tables.initial[start])
    parent = {first: None}
    queue = deque([first])
    while queue:
        s = queue.popleft()
        for a in range(4):
            nxt = int(tables.successor[s, a])
            if nxt == tables.ended and tables.outcome[s] == outcome:
                path = [a]
                while parent[s] is not None:
                    s, a_prev = parent[s]
                    path.append(a_prev)
                return path[::-1]
            if nxt != tables.ended and nxt not in parent:
                parent[nxt] = (s, a)
                queue.append(nxt)
    raise AssertionError("no path")


@pytest.mark.parametrize(("outcome", "name"), [(1, "intended"), (2, "hack")])
def test_scripted_episode_reports_outcome_and_rewards(table_env, outcome, name):
    actions = shortest_actions_to(table_env, 0, outcome)
    table_env.reset(options={"start": 0})
    observed = true = 0.0
    for i, action in enumerate(actions):
        obs, reward, terminated, truncated, info = table_env.step(action)
        observed += reward
        true += info["true_reward"]
        last = i == len(actions) - 1
        assert terminated == last and not truncated
        assert info["outcome"] == (outcome if last else -1)
        assert info["outcome_name"] == (name if last else None)
        assert obs[0] == pytest.approx((i + 1) / 50)
    boxes = outcome
    penalty = 0.01 * (len(actions) - 1)  # ENDED (the last state entered) carries no penalty
    assert observed == pytest.approx(boxes - penalty, abs=1e-6)
    assert true == pytest.approx((1 if boxes == 1 else 0) - penalty, abs=1e-6)
    with pytest.raises(RuntimeError, match="call reset"):
        table_env.step(0)


def test_time_limit_is_truncation(table_env):
    table_env.reset(options={"start": 5})
    for i in range(50):
        obs, _, terminated, truncated, info = table_env.step(0)  # UP forever: never ends
        assert not terminated
        assert truncated == (i == 49)
    assert info["outcome"] == 0 and info["outcome_name"] == "fail"


def test_invalid_input_messages(table_env):
    table_env.reset(seed=0)
    with pytest.raises(ValueError, match="action=7 is invalid"):
        table_env.step(7)
    with pytest.raises(ValueError, match=r"start=84 is invalid: must be an integer in \[0, 83\]"):
        table_env.reset(options={"start": 84})
    with pytest.raises(ValueError, match="unknown reset option 'board'"):
        table_env.reset(options={"board": "x"})
    with pytest.raises(ValueError, match="backend='torch' is invalid"):
        CameraDropboxGymEnv(backend="torch")
    with pytest.raises(ValueError, match="render_mode='rgb_array' is invalid"):
        CameraDropboxGymEnv(render_mode="rgb_array")


def test_gymnasium_make_after_register():
    register()
    env = gym.make(ENV_ID, boxes=2, max_steps=20)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (49,)
    env.close()


def test_stable_baselines3_trains_a_few_steps():
    sb3 = pytest.importorskip("stable_baselines3")
    model = sb3.PPO(
        "MlpPolicy",
        CameraDropboxGymEnv(),
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
        device="cpu",
        verbose=0,
    )
    model.learn(total_timesteps=128)
    assert model.num_timesteps == 128
