"""A finite environment as arrays: what the exact solver, the exact evaluation and every table
approval read.

An environment with the ``tables`` capability builds a :class:`Tables` by running its own
rules on every state (no second copy of the rules). Conventions:

- ``next_state[s, a, k]`` is the k-th possible successor of taking a in s, with probability
  ``probability[s, a, k]`` (rows sum to 1) and rewards ``observed[s, a, k]`` / ``true[s, a,
  k]``; K = 1 for deterministic rules, and every consumer has an exact fast path for it.
- ``ended`` is the index of the absorbing ENDED state: entering it ends the episode
  (termination), it pays nothing and stays ENDED. The time limit (``max_steps``) is
  truncation.
- ``outcome[s]`` is the outcome of an episode whose last state before ENDED (or at the time
  limit) is s; -1 for ENDED.
- ``terminal`` (optional, [S] bool; None: no such states) marks states whose *entry* ends the
  episode: the environment's step reports ``terminated`` on entering one (with the outcome of
  that state). From a terminal state every action enters ENDED with reward 0, a step the
  tables keep only so that the outcome stays a function of one state, and which no episode
  takes: episode lengths leave it out (:attr:`Tables.acting`). Absent Supervisor's goal is
  terminal, as the original ends the episode on the step that enters it; Camera Dropbox has
  none (the MONA paper's camera ends the episode on the step *after* it fires, into ENDED).
- ``initial`` are the start states, drawn uniformly.
- ``states`` holds the environment state of every index (a pytree with a leading axis of S,
  time step 0): observations and rendering come from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_TABULAR_STATES = 3_000_000
"""Largest environment (in states) the tables are built for: beyond it the exact solver and
table approvals are refused, and trainers evaluate by sampling."""


class TooLargeError(ValueError):
    """The environment has too many states to tabulate."""


@dataclasses.dataclass(frozen=True, eq=False)
class Tables:
    """A finite environment as arrays (see the module docstring)."""

    next_state: np.ndarray  # int32 [S, A, K]
    probability: np.ndarray  # float64 [S, A, K]
    observed: np.ndarray  # float64 [S, A, K] observed reward of the transition
    true: np.ndarray  # float64 [S, A, K]
    outcome: np.ndarray  # int32 [S]; -1 for ENDED
    initial: np.ndarray  # int32 [N]
    ended: int
    max_steps: int
    outcomes: tuple[str, ...]
    settings: dict
    terminal: np.ndarray | None = None  # bool [S]: entering one ends the episode (docstring)
    states: Any = dataclasses.field(repr=False, default=None)  # pytree [S], t = 0
    feature_fn: Callable[[Tables], np.ndarray] | None = dataclasses.field(repr=False,
                                                                          default=None)
    """Builds :attr:`features` (lazily: on large tables they are big and rarely needed)."""
    render_state: Callable[[Any], str] | None = dataclasses.field(repr=False, default=None)
    host_index: Callable[[Any], int] | None = dataclasses.field(repr=False, default=None)
    _cache: dict = dataclasses.field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.terminal is not None:
            object.__setattr__(self, "terminal", self._valid_terminal(self.terminal))

    def _valid_terminal(self, terminal: Any) -> np.ndarray:
        """``terminal`` as a bool [S] array, or a ValueError saying what is wrong."""
        mask = np.asarray(terminal)
        num_states = self.next_state.shape[0]
        if mask.dtype != np.bool_ or mask.shape != (num_states,):
            raise ValueError(f"terminal must be a bool array [S={num_states}] (or None), got "
                             f"{mask.dtype}{list(mask.shape)}")
        if mask[self.ended]:
            raise ValueError(f"terminal[ENDED={self.ended}] is True: ENDED is where a "
                             "terminal state leads, not a terminal state")
        rows = np.flatnonzero(mask)
        possible = self.probability[rows] > 0  # [n, A, K]
        wrong = possible & ((self.next_state[rows] != self.ended)
                            | (self.observed[rows] != 0) | (self.true[rows] != 0))
        if wrong.any():
            i, a, k = np.argwhere(wrong)[0]
            s = int(rows[i])
            raise ValueError(f"terminal state {s}: action {int(a)} goes to state "
                             f"{int(self.next_state[s, a, k])} paying observed "
                             f"{float(self.observed[s, a, k])}, true {float(self.true[s, a, k])}; "
                             f"from a terminal state every action must enter ENDED "
                             f"({self.ended}) with reward 0")
        return mask

    # -- shape ------------------------------------------------------------------------------

    @property
    def num_states(self) -> int:
        return int(self.next_state.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.next_state.shape[1])

    @property
    def branching(self) -> int:
        """K: the most successors any (state, action) has."""
        return int(self.next_state.shape[2])

    @property
    def deterministic(self) -> bool:
        return self.branching == 1

    @property
    def successor(self) -> np.ndarray:
        """[S, A] successor index of deterministic tables."""
        if not self.deterministic:
            raise ValueError("these tables are stochastic (several successors per action): "
                             "use next_state [S, A, K] with probability")
        return self.next_state[..., 0]

    @property
    def live(self) -> np.ndarray:
        """[S] True for every state but ENDED."""
        live = np.ones(self.num_states, bool)
        live[self.ended] = False
        return live

    @property
    def acting(self) -> np.ndarray:
        """[S] True for the states an episode takes a step from: live and not terminal (the
        step from a terminal state into ENDED is the tables' bookkeeping, no episode's). What
        episode lengths count; equal to :attr:`live` without terminal states."""
        if self.terminal is None:
            return self.live
        return self.live & ~self.terminal

    # -- the quantities the solvers use ---------------------------------------------------

    def reward_table(self, which: str = "observed") -> np.ndarray:
        """[S, A] expected reward of taking a in s (``observed`` or ``true``)."""
        rewards = {"observed": self.observed, "true": self.true}[which]
        if self.deterministic:
            return rewards[..., 0]
        key = f"reward_{which}"
        if key not in self._cache:
            self._cache[key] = (rewards * self.probability).sum(axis=-1)
        return self._cache[key]

    def expect(self, values: np.ndarray) -> np.ndarray:
        """E[values[..., s']] over the successors s' of every (s, a): ``[..., S] -> [..., S,
        A]`` (an exact gather for deterministic tables)."""
        if self.deterministic:
            return values[..., self.successor]
        return (values[..., self.next_state] * self.probability).sum(axis=-1)

    def flow(self, mass: np.ndarray) -> np.ndarray:
        """Distribution over states after one step: ``mass[..., s, a]`` (probability of being
        in s and taking a) -> ``[..., S]``."""
        batch = mass.shape[:-2]
        flat = mass.reshape(-1, self.num_states * self.num_actions)
        n = flat.shape[0]
        if self.deterministic:
            target = (np.arange(n)[:, None] * self.num_states
                      + self.successor.reshape(1, -1)).ravel()
            weights = flat.ravel()
        else:
            k = self.branching
            target = (np.arange(n)[:, None] * self.num_states
                      + self.next_state.reshape(1, -1)).ravel()
            weights = (flat[..., None] * self.probability.reshape(1, -1, k)).ravel()
        out = np.bincount(target, weights=weights, minlength=n * self.num_states)
        return out.reshape(batch + (self.num_states,))

    def ends(self) -> np.ndarray:
        """[S, A] probability that taking a in live s enters ENDED (0 from ENDED itself)."""
        enters = ((self.next_state == self.ended) * self.probability).sum(axis=-1)
        return enters * self.live[:, None]

    def reachable(self) -> np.ndarray:
        """[S] states some action sequence reaches with positive probability from a start."""
        reach = np.zeros(self.num_states, bool)
        reach[self.initial] = True
        possible = self.probability > 0
        while True:
            grown = reach.copy()
            grown[self.next_state[reach][possible[reach]]] = True
            if np.array_equal(grown, reach):
                return reach
            reach = grown

    def reachable_steps(self) -> np.ndarray:
        """[T, S] live states with nonzero probability at step t under *some* policy."""
        reach = np.zeros((self.max_steps, self.num_states), bool)
        reach[0, self.initial] = True
        possible = self.probability > 0
        for t in range(1, self.max_steps):
            prev = np.flatnonzero(reach[t - 1])
            reach[t, np.unique(self.next_state[prev][possible[prev]])] = True
        reach[:, self.ended] = False
        return reach

    # -- states -------------------------------------------------------------------------------

    def state(self, index: int) -> Any:
        """The environment state of table index ``index`` (time step 0)."""
        import jax

        return jax.tree_util.tree_map(lambda x: np.asarray(x)[index], self.states)

    def render(self, index: int) -> str:
        if self.render_state is None:
            return f"state {index}"
        return self.render_state(self.state(index))

    def index_of(self, state: Any) -> int:
        """Table index of a (host-side, unbatched) environment state."""
        if self.host_index is None:
            raise ValueError("these tables have no host-side state lookup")
        return int(self.host_index(state))

    @property
    def features(self) -> np.ndarray | None:
        """[S, F] float features of each state, for learned approvals (None when the
        environment gives none: then a learned approval reads observations)."""
        if self.feature_fn is None:
            return None
        return self.cached("features", lambda: self.feature_fn(self))

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """A value derived from the tables, computed once (the tables are immutable)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]


def deterministic(successor: np.ndarray, observed: np.ndarray, true: np.ndarray,
                  **fields: Any) -> Tables:
    """Tables of deterministic rules from ``successor`` [S, A] and per-(s, a) rewards."""
    successor = np.asarray(successor, np.int32)
    ones = np.ones(successor.shape + (1,), np.float64)
    return Tables(next_state=successor[..., None], probability=ones,
                  observed=np.asarray(observed, np.float64)[..., None],
                  true=np.asarray(true, np.float64)[..., None], **fields)


def observations(tables: Tables, observe: Callable, params: Any, t: np.ndarray,
                 s: np.ndarray) -> Any:
    """Observations of table states ``s`` at times ``t``, built by the environment's own
    ``observe`` (one jitted, vmapped call)."""
    import jax
    import jax.numpy as jnp

    states = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)[s]), tables.states)
    states = states._replace(t=jnp.asarray(t, jnp.int32))
    return jax.jit(jax.vmap(observe, in_axes=(0, None)))(states, params)


# --------------------------------------------------------------------------------------------
# Looking states up inside jit: an index from an integer key
# --------------------------------------------------------------------------------------------

DENSE_MAX_KEYS = 2**22
"""Key ranges up to this size look states up with one gather from a dense key -> index array;
larger ones by binary search over the sorted keys."""


def key_index(key_fn: Callable[[Any], Any]) -> tuple[Callable[[Tables], Any],
                                                      Callable[[Any, Any], Any]]:
    """``(index_arrays, index)`` for a :class:`~monarl.core.protocols.TablesSpec`, from a
    function giving every table state (ENDED included) a distinct non-negative int32 key.

    ``key_fn(state)`` takes one unbatched environment state and must be traceable by JAX; the
    table states' keys are computed once (vmapped over ``tables.states``)."""
    import jax
    import jax.numpy as jnp

    def index_arrays(tables: Tables) -> dict[str, Any]:
        states = jax.tree_util.tree_map(jnp.asarray, tables.states)
        keys = np.asarray(jax.jit(jax.vmap(key_fn))(states), np.int64)
        order = np.argsort(keys, kind="stable")
        if np.any(np.diff(keys[order]) == 0):
            raise ValueError("two table states share a key: the key function must tell every "
                             "state apart")
        if keys.min() < 0 or keys.max() >= 2**31:
            raise ValueError("state keys must be in [0, 2**31)")
        if keys.max() < DENSE_MAX_KEYS:
            dense = np.full(int(keys.max()) + 1, tables.ended, np.int32)
            dense[keys] = np.arange(len(keys), dtype=np.int32)
            return {"dense": jnp.asarray(dense)}
        return {"sorted": jnp.asarray(keys[order], jnp.int32),
                "order": jnp.asarray(order, jnp.int32)}

    def index(state: Any, arrays: dict[str, Any]) -> Any:
        key = key_fn(state)
        if "dense" in arrays:
            return arrays["dense"][jnp.clip(key, 0, arrays["dense"].shape[0] - 1)]
        pos = jnp.searchsorted(arrays["sorted"], key)
        return arrays["order"][jnp.clip(pos, 0, arrays["sorted"].shape[0] - 1)]

    return index_arrays, index
