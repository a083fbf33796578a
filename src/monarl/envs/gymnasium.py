"""Gymnasium adapter for Camera Dropbox, so Stable-Baselines3 / Gymnasium users can train on it.

    from monarl.envs.gymnasium import CameraDropboxGymEnv
    env = CameraDropboxGymEnv()            # the paper's 4x4 board, 2 boxes, 1 blocker
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(3)

Observation: the same float32 vector as the JAX environment (time step / max_steps, then a
one-hot empty/agent/box per cell), a ``Box(0, 1)``. Actions: ``Discrete(4)`` (0 UP, 1 DOWN,
2 LEFT, 3 RIGHT). Reward: the *observed* (misspecified) reward; ``info["true_reward"]`` has the
intended one, and at the end of an episode ``info["outcome"]`` is 0 fail / 1 intended / 2 hack
(``info["outcome_name"]`` the word), -1 before. Entering ENDED is ``terminated``; the step limit
is ``truncated``.

Why two backends with the same rules. ``backend="table"`` (the default whenever the board can be
tabulated) steps through the tables that ``envs/tabular.py`` compiles *from the JAX rules*, so a
step is a few numpy lookups (microseconds): a benchmark of a torch learner through this adapter
then measures the learner, not JAX dispatch. ``backend="jax"`` calls the jitted JAX ``step``
directly (any board size; ~100x slower per step). A test checks they agree step for step. No
rule is written twice.

gymnasium is an optional dependency (``pip install 'monarl[gym]'`` or ``pip install
gymnasium``): importing this module always works; constructing the environment without gymnasium
raises an ImportError that says what to install.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monarl.envs.camera_dropbox import rules as cd

try:  # lazily optional: the core install does not need gymnasium
    import gymnasium as _gym
    from gymnasium import spaces as _spaces
except ImportError:  # pragma: no cover - exercised only without gymnasium
    _gym = None
    _spaces = None

ENV_ID = "monarl/CameraDropbox-v0"
BACKENDS = ("auto", "table", "jax")
INSTALL_HINT = (
    "the Gymnasium adapter needs the optional dependency gymnasium: "
    "pip install 'monarl[gym]' (or pip install gymnasium; for Stable-Baselines3: "
    "pip install 'monarl[sb3]')"
)


def require_gymnasium() -> Any:
    """Return the gymnasium module or raise an ImportError saying what to install."""
    if _gym is None:
        raise ImportError(INSTALL_HINT)
    return _gym


def register(env_id: str = ENV_ID) -> str:
    """Register the environment with gymnasium (``gymnasium.make(env_id, **settings)``)."""
    gym = require_gymnasium()
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point="monarl.envs.gymnasium:CameraDropboxGymEnv")
    return env_id


_Base: Any = _gym.Env if _gym is not None else object


class CameraDropboxGymEnv(_Base):
    """Camera Dropbox as a ``gymnasium.Env`` (see the module docstring).

    Args:
        rows, cols, boxes, blockers, penalty, max_steps: environment settings (paper defaults).
        render_mode: None, "ansi" (``render()`` returns the text board) or "human" (prints it).
        backend: "auto" (tables when the board can be tabulated, else JAX), "table" or "jax".

    ``reset(options={"start": i})`` starts from start layout ``i`` (0 .. ``num_starts - 1``)
    instead of a uniformly sampled one, e.g. to evaluate from every start as the paper does.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        rows: int = 4,
        cols: int = 4,
        boxes: int = 2,
        blockers: int = 1,
        penalty: float = 0.01,
        max_steps: int = 50,
        render_mode: str | None = None,
        backend: str = "auto",
    ) -> None:
        require_gymnasium()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is invalid: allowed are None, "
                f"{', '.join(self.metadata['render_modes'])}"
            )
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r} is invalid: allowed are {', '.join(BACKENDS)}")
        self.params = cd.make_params(rows, cols, boxes, blockers, penalty, max_steps)
        self.render_mode = render_mode
        self.max_steps = max_steps
        size = cd.observation_size(self.params)
        self.observation_space = _spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.action_space = _spaces.Discrete(len(cd.ACTIONS))
        self.num_starts = self.params.num_initial_states
        self._tables = None
        if backend in ("auto", "table"):
            from monarl.envs.camera_dropbox.tables import TooLargeError, compile_camera_dropbox

            try:
                self._tables = compile_camera_dropbox(self.params)
            except TooLargeError:
                if backend == "table":
                    raise
        self.backend = "table" if self._tables is not None else "jax"
        if self._tables is not None:
            self._board_obs = self._table_observations()
        else:
            import jax

            self._jax_step = jax.jit(cd.step)
        self._state: Any = None  # table index or cd.EnvState
        self._t = 0
        self._done = True

    # -- helpers ---------------------------------------------------------------------------

    def _table_observations(self) -> np.ndarray:
        """Observation of every table state at t = 0 (the time slot is filled per step)."""
        import jax
        import jax.numpy as jnp

        tables = self._tables
        states = cd.EnvState(
            agent=jnp.asarray(tables.agent),
            grid=jnp.asarray(tables.grid),
            ended=jnp.arange(tables.num_states) == tables.ended,
            t=jnp.zeros(tables.num_states, jnp.int32),
        )
        return np.asarray(jax.vmap(cd.observe, in_axes=(0, None))(states, self.params))

    def _observation(self) -> np.ndarray:
        if self.backend == "table":
            obs = self._board_obs[self._state].copy()
            obs[0] = self._t / self.max_steps
            return obs
        return np.asarray(cd.observe(self._state, self.params), dtype=np.float32)

    # -- gymnasium API ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        start = options.pop("start", None)
        if options:
            raise ValueError(f"unknown reset option {sorted(options)[0]!r}: allowed is 'start'")
        if start is None:
            start = int(self.np_random.integers(self.num_starts))
        elif not isinstance(start, int | np.integer) or not 0 <= start < self.num_starts:
            raise ValueError(
                f"reset option start={start!r} is invalid: must be an integer in "
                f"[0, {self.num_starts - 1}]"
            )
        self._t = 0
        self._done = False
        if self.backend == "table":
            self._state = int(self._tables.initial[int(start)])
        else:
            import jax.numpy as jnp

            self._state = cd.EnvState(
                agent=self.params.init_agent[int(start)],
                grid=self.params.init_grid[int(start)],
                ended=jnp.asarray(False),
                t=jnp.asarray(0, jnp.int32),
            )
        info = {"start": int(start)}
        if self.render_mode == "human":
            self.render()
        return self._observation(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError(
                "the episode has ended (terminated or truncated): call reset() before step()"
            )
        if not self.action_space.contains(action):
            raise ValueError(
                f"action={action!r} is invalid: must be an integer in [0, 3] "
                "(0 UP, 1 DOWN, 2 LEFT, 3 RIGHT)"
            )
        action = int(action)
        if self.backend == "table":
            tables = self._tables
            previous = self._state
            nxt = int(tables.next_state[previous, action])
            self._t += 1
            reward = float(tables.observed_reward[nxt])
            true_reward = float(tables.true_reward[nxt])
            terminated = nxt == tables.ended and previous != tables.ended
            truncated = not terminated and self._t >= self.max_steps
            # Entering ENDED erases the board: the tally comes from the state we left.
            outcome = int(tables.outcome[previous if nxt == tables.ended else nxt])
            self._state = nxt
        else:
            import jax

            obs, state, r, term, trunc, info = jax.device_get(
                self._jax_step(jax.random.PRNGKey(0), self._state, action, self.params)
            )
            self._state = jax.tree_util.tree_map(jax.numpy.asarray, state)
            self._t += 1
            reward, true_reward = float(r), float(info["true_reward"])
            terminated, truncated = bool(term), bool(trunc)
            outcome = int(np.minimum(info["boxes_pushed"], 2))
        done = terminated or truncated
        self._done = done
        info = {
            "true_reward": true_reward,
            "outcome": outcome if done else -1,
            "outcome_name": cd.OUTCOMES[outcome] if done else None,
        }
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, bool(terminated), bool(truncated), info

    def render(self) -> str | None:
        if self._state is None:
            text = "(call reset() first)"
        elif self.backend == "table":
            text = self._tables.render(self._state)
        else:
            text = cd.render(self._state)
        if self.render_mode == "human":
            print(text + "\n")
            return None
        return text

    def close(self) -> None:
        pass
