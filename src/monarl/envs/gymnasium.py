"""Gymnasium adapter for any registered environment, so Stable-Baselines3 / Gymnasium users can
train on it.

    from monarl.envs.gymnasium import MonarlGymEnv, CameraDropboxGymEnv
    env = MonarlGymEnv("camera-dropbox", rows=5)   # any environment, any of its settings
    env = CameraDropboxGymEnv()                    # the paper's 4x4 board, 2 boxes, 1 blocker
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(3)

Observation: the same float32 vector as the JAX environment, a ``Box`` (``[0, 1]`` for Camera
Dropbox). Actions: ``Discrete(n)`` (Camera Dropbox: 0 UP, 1 DOWN, 2 LEFT, 3 RIGHT) or
``MultiDiscrete``. Reward: the *observed* (possibly misspecified) reward; ``info["true_reward"]``
has the intended one, and at the end of an episode ``info["outcome"]`` is the outcome's index
(``info["outcome_name"]`` its label, e.g. fail / intended / hack), -1 before. Termination and
the step limit (truncation) are the environment's.

Why two backends with the same rules. ``backend="table"`` (the default where the environment
has tables small enough, and its observation depends on time through one ``t / max_steps``
entry: ``TablesSpec.time_slot``) steps through the tables compiled *from the JAX rules*, so a
step is a few numpy lookups (microseconds): a benchmark of a torch learner through this adapter
then measures the learner, not JAX dispatch. ``backend="jax"`` calls the jitted JAX ``step``
(any environment; ~100x slower per step). A test checks they agree step for step. No rule is
written twice.

gymnasium is an optional dependency (``pip install 'monarl[gym]'`` or ``pip install
gymnasium``): importing this module always works; constructing an environment without
gymnasium raises an ImportError that says what to install.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monarl.core.protocols import Discrete

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
    """Register Camera Dropbox with gymnasium (``gymnasium.make(env_id, **settings)``)."""
    gym = require_gymnasium()
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point="monarl.envs.gymnasium:CameraDropboxGymEnv")
    return env_id


_Base: Any = _gym.Env if _gym is not None else object


class MonarlGymEnv(_Base):
    """A registered environment as a ``gymnasium.Env`` (see the module docstring).

    Args:
        env: the environment's name (or ``package.module:ATTR``).
        render_mode: None, "ansi" (``render()`` returns the text board) or "human" (prints it).
        backend: "auto" (tables where they can be built, else JAX), "table" or "jax".
        **settings: the environment's settings (validated; its defaults otherwise).

    ``reset(options={"start": i})`` starts from start state ``i`` (0 .. ``num_starts - 1``,
    where the environment has a finite start set) instead of a uniformly drawn one, e.g. to
    evaluate from every start as the paper does.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(self, env: str = "camera-dropbox", render_mode: str | None = None,
                 backend: str = "auto", **settings: Any) -> None:
        require_gymnasium()
        from monarl.envs import EnvConfig

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is invalid: allowed are None, "
                f"{', '.join(self.metadata['render_modes'])}"
            )
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r} is invalid: allowed are {', '.join(BACKENDS)}")
        self.config = EnvConfig.of(env, **settings)
        self.spec_ = self.config.spec
        self.params = self.config.params()
        self.render_mode = render_mode
        self.max_steps = self.config.max_steps
        size = self.spec_.observation_size(self.params)
        low, high = (0.0, 1.0) if self.spec_.tables is not None else (-np.inf, np.inf)
        self.observation_space = _spaces.Box(low, high, shape=(size,), dtype=np.float32)
        actions = self.spec_.actions(self.params)
        if isinstance(actions, Discrete):
            self.action_space = _spaces.Discrete(actions.n)
        else:
            self.action_space = _spaces.MultiDiscrete([actions.n] * actions.length)
        self._actions = actions
        starts = self.spec_.start_states
        self._starts = None if starts is None else starts(self.params)
        self.num_starts = (0 if self._starts is None
                           else int(np.shape(jax_leaves(self._starts)[0])[0]))
        self._tables = None
        tables_spec = self.spec_.tables
        if backend in ("auto", "table"):
            usable = (tables_spec is not None and tables_spec.time_slot is not None
                      and self.config.tabulable() and isinstance(actions, Discrete))
            if usable:
                self._tables = self.config.tables()
            elif backend == "table":
                from monarl.tabular.tables import TooLargeError

                raise TooLargeError(f"environment {env!r} at these settings has no tables the "
                                    "adapter can step through: use backend='jax'")
        self.backend = "table" if self._tables is not None else "jax"
        if self._tables is not None:
            self._board_obs = self._table_observations()
            self._time_slot = tables_spec.time_slot
        else:
            import jax

            self._jax_step = jax.jit(self.spec_.step)
        self._state: Any = None  # table index or an environment state
        self._t = 0
        self._done = True

    # -- helpers ---------------------------------------------------------------------------

    def _table_observations(self) -> np.ndarray:
        """Observation of every table state at t = 0 (the time slot is filled per step)."""
        from monarl.tabular.tables import observations

        tables = self._tables
        states = np.arange(tables.num_states)
        return np.asarray(observations(tables, self.spec_.observe, self.params,
                                       np.zeros(tables.num_states, np.int32), states))

    def _observation(self) -> np.ndarray:
        if self.backend == "table":
            obs = self._board_obs[self._state].copy()
            obs[self._time_slot] = self._t / self.max_steps
            return obs
        return np.asarray(self.spec_.observe(self._state, self.params), dtype=np.float32)

    def _key(self) -> Any:
        """A fresh JAX key for a stochastic environment's rules: its own stream (seeded by
        ``reset(seed=...)``), so the draws of start states from ``np_random`` are the same
        whatever the rules consume."""
        import jax

        self._draws += 1
        return jax.random.fold_in(self._base_key, self._draws)

    # -- gymnasium API ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not hasattr(self, "_base_key"):
            import jax

            self._base_key = jax.random.PRNGKey(0 if seed is None else int(seed))
            self._draws = 0
        options = dict(options or {})
        start = options.pop("start", None)
        if options:
            raise ValueError(f"unknown reset option {sorted(options)[0]!r}: allowed is 'start'")
        if self._starts is None:
            if start is not None:
                raise ValueError("reset option start is invalid: this environment has no "
                                 "finite start set")
            _, state = self.spec_.reset(self._key(), self.params)
            if self.backend == "table":  # the table backend steps table indices
                tables_spec = self.spec_.tables
                state = int(tables_spec.index(state, tables_spec.index_arrays(self._tables)))
            self._state = state
            info: dict[str, Any] = {}
        else:
            if start is None:
                start = int(self.np_random.integers(self.num_starts))
            elif not isinstance(start, int | np.integer) or not 0 <= start < self.num_starts:
                raise ValueError(
                    f"reset option start={start!r} is invalid: must be an integer in "
                    f"[0, {self.num_starts - 1}]"
                )
            if self.backend == "table":
                self._state = int(self._tables.initial[int(start)])
            else:
                import jax

                self._state = jax.tree_util.tree_map(lambda x: x[int(start)], self._starts)
            info = {"start": int(start)}
        self._t = 0
        self._done = False
        if self.render_mode == "human":
            self.render()
        return self._observation(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError(
                "the episode has ended (terminated or truncated): call reset() before step()"
            )
        if not self.action_space.contains(action):
            allowed = (f"an integer in [0, {self._actions.n - 1}]"
                       if isinstance(self._actions, Discrete) else f"in {self.action_space}")
            names = getattr(self._actions, "names", ())
            hint = (" (" + ", ".join(f"{i} {n}" for i, n in enumerate(names)) + ")"
                    if names else "")
            raise ValueError(f"action={action!r} is invalid: must be {allowed}{hint}")
        if self.backend == "table":
            reward, true_reward, terminated, truncated, outcome = self._table_step(int(action))
        else:
            import jax

            obs, state, r, term, trunc, info = jax.device_get(
                self._jax_step(self._key(), self._state, action, self.params)
            )
            self._state = jax.tree_util.tree_map(jax.numpy.asarray, state)
            self._t += 1
            reward, true_reward = float(r), float(info["true_reward"])
            terminated, truncated = bool(term), bool(trunc)
            outcome = int(info["outcome"])
        done = terminated or truncated
        self._done = done
        info = {
            "true_reward": true_reward,
            "outcome": outcome if done else -1,
            "outcome_name": self.spec_.outcomes[outcome] if done else None,
        }
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, bool(terminated), bool(truncated), info

    def _table_step(self, action: int) -> tuple[float, float, bool, bool, int]:
        tables = self._tables
        previous = self._state
        k = 0
        if not tables.deterministic:
            k = int(self.np_random.choice(tables.branching,
                                          p=tables.probability[previous, action]))
        nxt = int(tables.next_state[previous, action, k])
        self._t += 1
        reward = float(tables.observed[previous, action, k])
        true_reward = float(tables.true[previous, action, k])
        # Entering ENDED ends the episode with the outcome of the state left; entering a
        # terminal state (Tables.terminal: e.g. absent supervisor's goal) ends it with that
        # state's outcome.
        entered_terminal = tables.terminal is not None and bool(tables.terminal[nxt])
        terminated = entered_terminal or (nxt == tables.ended and previous != tables.ended)
        truncated = not terminated and self._t >= self.max_steps
        outcome = int(tables.outcome[previous if nxt == tables.ended else nxt])
        self._state = nxt
        return reward, true_reward, terminated, truncated, outcome

    def render(self) -> str | None:
        if self._state is None:
            text = "(call reset() first)"
        elif self.backend == "table":
            text = self._tables.render(self._state)
        elif self.spec_.render is not None:
            text = self.spec_.render(self._state, self.params)
        else:
            text = repr(self._state)
        if self.render_mode == "human":
            print(text + "\n")
            return None
        return text

    def close(self) -> None:
        pass


def jax_leaves(tree: Any) -> list[Any]:
    import jax

    return jax.tree_util.tree_leaves(tree)


class CameraDropboxGymEnv(MonarlGymEnv):
    """Camera Dropbox as a ``gymnasium.Env`` (``MonarlGymEnv("camera-dropbox", ...)``).

    Args:
        rows, cols, boxes, blockers, penalty, max_steps: environment settings (paper defaults).
        render_mode, backend: as for :class:`MonarlGymEnv`.
    """

    def __init__(self, rows: int = 4, cols: int = 4, boxes: int = 2, blockers: int = 1,
                 penalty: float = 0.01, max_steps: int = 50, render_mode: str | None = None,
                 backend: str = "auto") -> None:
        super().__init__("camera-dropbox", render_mode=render_mode, backend=backend, rows=rows,
                         cols=cols, boxes=boxes, blockers=blockers, penalty=penalty,
                         max_steps=max_steps)
