"""Camera Dropbox as tables: every state through the environment's own step rules.

Why: the exact solver and the exact evaluator need P[s, a] and rewards per state, but a second,
hand-written copy of the rules would drift from the JAX environment PPO trains on. So we
enumerate every state (agent cell and 0..boxes boxes, plus ENDED), push the whole batch through
``rules.transition`` with ``jax.vmap`` and read the tables off the results. A test replays
random trajectories through both and checks they agree step for step.

Camera Dropbox is deterministic (one successor per action) and its rewards are those of the
state entered; the generic :class:`monarl.tabular.tables.Tables` records them per transition.
``outcome[s]`` is the number of boxes pushed by s (fail / intended / hack).
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from math import comb

import jax
import jax.numpy as jnp
import numpy as np

from monarl.envs.camera_dropbox import rules as cd
from monarl.tabular.tables import MAX_TABULAR_STATES, Tables, TooLargeError, deterministic


def _keys(agent: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Integer key of (agent cell, box bitmask): agent_cell * 2**cells + mask."""
    cells = grid.shape[1] * grid.shape[2]
    flat = grid.reshape(grid.shape[0], cells).astype(np.int64)
    mask = (flat << np.arange(cells, dtype=np.int64)).sum(axis=1)
    agent_cell = agent[:, 0].astype(np.int64) * grid.shape[2] + agent[:, 1]
    return agent_cell * (np.int64(1) << cells) + mask


def _lookup(sorted_keys: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.clip(pos, 0, len(sorted_keys) - 1)
    if not np.all(sorted_keys[pos] == keys):
        raise KeyError("state not in the table")
    return order[pos]


def count_states(rows: int, cols: int, boxes: int) -> int:
    """Agent cell x every set of 0..boxes other cells, plus ENDED."""
    cells = rows * cols
    return cells * sum(comb(cells - 1, k) for k in range(boxes + 1)) + 1


def enumerate_layouts(rows: int, cols: int, boxes: int) -> tuple[np.ndarray, np.ndarray]:
    """All (agent, boxes) layouts with 0..boxes boxes, ENDED excluded."""
    cells = rows * cols
    agents, grids = [], []
    for agent in range(cells):
        others = [c for c in range(cells) if c != agent]
        for k in range(boxes + 1):
            for combo in itertools.combinations(others, k):
                grid = np.zeros(cells, np.int32)
                grid[list(combo)] = 1
                agents.append(divmod(agent, cols))
                grids.append(grid.reshape(rows, cols))
    return np.asarray(agents, np.int32), np.asarray(grids, np.int32)


@jax.jit
def _step_all(agent: jax.Array, grid: jax.Array, params: cd.CameraDropboxParams):
    """Successor of every (state, action) and the entry rewards of every state."""

    def one(a, g, action):
        state = cd.EnvState(agent=a, grid=g, ended=jnp.asarray(False), t=jnp.asarray(0))
        nxt = cd.transition(state, action, params)
        return nxt.agent, nxt.grid, nxt.ended

    actions = jnp.arange(len(cd.ACTIONS))
    per_action = jax.vmap(jax.vmap(one, in_axes=(None, None, 0)), in_axes=(0, 0, None))
    nxt_agent, nxt_grid, nxt_ended = per_action(agent, grid, actions)

    def entry(a, g):
        return cd.rewards_entering(cd.EnvState(a, g, jnp.asarray(False), jnp.asarray(0)), params)

    obs, true = jax.vmap(entry)(agent, grid)
    pushed = jax.vmap(lambda g: cd.boxes_pushed(g, params.boxes))(grid)
    return nxt_agent, nxt_grid, nxt_ended, obs, true, pushed


def compile_camera_dropbox(params: cd.CameraDropboxParams,
                           with_initial: bool = True) -> Tables:
    """Tables for Camera Dropbox with these parameters (same rules as ``cd.step``)."""
    return _compile(params, with_initial)[0]


def _compile(params: cd.CameraDropboxParams, with_initial: bool
             ) -> tuple[Tables, np.ndarray, np.ndarray]:
    """The tables and the sorted state keys with their table indices (host-side lookups)."""
    rows, cols, boxes = params.rows, params.cols, params.boxes
    total = count_states(rows, cols, boxes)
    if total > MAX_TABULAR_STATES:
        raise TooLargeError(
            f"a {rows}x{cols} board with {boxes} boxes has {total:,} states, more than the "
            f"{MAX_TABULAR_STATES:,} the exact solver tabulates; use PPO on the JAX environment")
    agent, grid = enumerate_layouts(rows, cols, boxes)
    n = len(agent)
    with jax.enable_x64(True):  # rewards in float64, exactly as the rules state them
        nxt_agent, nxt_grid, nxt_ended, obs, true, pushed = jax.device_get(
            _step_all(jnp.asarray(agent), jnp.asarray(grid), params))
    keys = _keys(agent, grid)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    flat_agent = nxt_agent.reshape(-1, 2)
    flat_grid = nxt_grid.reshape(-1, rows, cols)
    flat_ended = nxt_ended.reshape(-1)
    nxt_index = np.full(flat_ended.shape, n, np.int32)
    live = ~flat_ended
    nxt_index[live] = _lookup(sorted_keys, order, _keys(flat_agent[live], flat_grid[live]))
    next_state = np.concatenate([nxt_index.reshape(n, -1),
                                 np.full((1, len(cd.ACTIONS)), n, np.int32)])
    outcome = np.concatenate([np.minimum(pushed, 2), [-1]]).astype(np.int32)
    observed_entry = np.concatenate([np.asarray(obs, np.float64), [0.0]])
    true_entry = np.concatenate([np.asarray(true, np.float64), [0.0]])
    all_agent = np.concatenate([agent, np.zeros((1, 2), np.int32)])
    all_grid = np.concatenate([grid, np.zeros((1, rows, cols), np.int32)])
    ended = np.arange(n + 1) == n
    initial = np.zeros(0, np.int32)
    if with_initial and params.init_agent is not None:
        start_keys = _keys(np.asarray(params.init_agent), np.asarray(params.init_grid))
        initial = _lookup(sorted_keys, order, start_keys).astype(np.int32)

    def host_index(state: cd.EnvState) -> int:
        if bool(state.ended):
            return n
        key = _keys(np.asarray(state.agent)[None], np.asarray(state.grid)[None])[0]
        return int(_lookup(sorted_keys, order, np.asarray([key]))[0])

    tables = deterministic(
        next_state, observed_entry[next_state], true_entry[next_state],
        outcome=outcome,
        initial=initial,
        ended=n,
        max_steps=params.max_steps,
        outcomes=cd.OUTCOMES,
        settings=cd.env_settings(params),
        states=cd.EnvState(agent=all_agent, grid=all_grid, ended=ended,
                           t=np.zeros(n + 1, np.int32)),
        feature_fn=lambda t: state_features(all_agent, all_grid, ended),
        render_state=cd.render,
        host_index=host_index,
    )
    return tables, sorted_keys, order


def can_reach(next_state: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """States from which some action sequence reaches a goal state (backward fixed point)."""
    reach = goal.copy()
    while True:
        grown = reach | reach[next_state].any(axis=1)
        if np.array_equal(grown, reach):
            return reach
        reach = grown


@lru_cache(maxsize=16)
def solvable_layouts(rows: int, cols: int, boxes: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Interior box layouts from which, for every agent cell, every box can be pushed into the
    hole using one blocker (the paper's start-state rule)."""
    params = cd.CameraDropboxParams(rows=rows, cols=cols, boxes=boxes, max_steps=1,
                                    blockers=np.int32(1), penalty=np.float64(0.0))
    tables, sorted_keys, order = _compile(params, with_initial=False)
    n = tables.ended
    goal = np.zeros(tables.num_states, bool)
    goal[:n] = np.asarray([p == boxes for p in _pushed_counts(tables, boxes)])
    reach = can_reach(tables.successor, goal)
    result = []
    for layout in interior_layouts(rows, cols, boxes):
        grid = np.zeros((rows, cols), np.int32)
        for r, c in layout:
            grid[r, c] = 1
        free = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in layout]
        idx = _lookup(sorted_keys, order, _keys(np.asarray(free, np.int32),
                                                np.repeat(grid[None], len(free), axis=0)))
        if reach[idx].all():
            result.append(layout)
    return tuple(result)


def _pushed_counts(tables: Tables, boxes: int) -> np.ndarray:
    n = tables.ended
    grid = np.asarray(tables.states.grid)[:n]
    return boxes - (grid.reshape(n, -1).sum(axis=1) - grid[:, -1, 0])


def interior_layouts(rows: int, cols: int, boxes: int) -> list[tuple[tuple[int, int], ...]]:
    """Every placement of ``boxes`` boxes with no box on an edge of the board."""
    interior = [(r, c) for r in range(1, rows - 1) for c in range(1, cols - 1)]
    return list(itertools.combinations(interior, boxes))


def state_features(agent: np.ndarray, grid: np.ndarray, ended: np.ndarray) -> np.ndarray:
    """[S, 3 * cells]: one-hot (empty, agent, box) per cell, as the environment observes it
    (without the time step; ENDED is the all-empty board): the learned approvals' inputs."""
    n, rows, cols = grid.shape
    live = ~ended
    agent_plane = np.zeros((n, rows, cols))
    agent_plane[np.arange(n)[live], agent[live, 0], agent[live, 1]] = 1.0
    box = grid.astype(np.float64) * live[:, None, None]
    empty = 1.0 - agent_plane - box
    return np.stack([empty, agent_plane, box], axis=-1).reshape(n, -1)
