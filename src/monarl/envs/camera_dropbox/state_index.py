"""Camera Dropbox's table index inside jitted training: env state -> table index.

Why this exists: a tabular approval (``approval/trusted.py``) is an array ``[T, S, A]`` indexed
by the *table* index of a state, while a trainer steps the functional JAX environment, whose
states are (agent, grid, ended, t) pytrees. To look an approval up inside the jitted training
loop we map each env state to its table index with pure JAX ops: encode the state to an integer
key and look it up among the keys of every table state (the ``index_arrays`` / ``index`` of the
environment's tables capability).

The key here is a mixed-radix number over the *positions* of the boxes rather than the
tabular compiler's box bitmask (``agent_cell * 2**cells + mask``, int64): JAX runs in int32
unless x64 is enabled globally, and the bitmask overflows int32 from 6x6 boards on, whereas
``agent_cell * (cells + 1)**boxes + sum(pos_i * (cells + 1)**(boxes - 1 - i))`` (box cells in
ascending order, padded with the sentinel ``cells``) stays small for every board the tabular
compiler accepts. When the key range is small (17 x 17 x 16 = 4,624 keys on the paper's board)
the lookup is a direct gather from a dense key -> index array instead of a binary search:
``searchsorted`` is a loop of log2(S) tiny steps, which on a CPU costs more than the gather
inside a training step. A test checks both paths against ``Tables.index_of`` at random
states.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from monarl.envs.camera_dropbox import rules as cd
from monarl.tabular.tables import Tables

INT32_MAX = 2**31 - 1


DENSE_MAX_KEYS = 2**22


@partial(jax.tree_util.register_dataclass,
         data_fields=["key_sorted", "key_order", "ended", "dense"], meta_fields=["boxes"])
@dataclasses.dataclass(frozen=True)
class StateIndex:
    """Arrays for mapping env states to table indices (a pytree: pass it into jit/vmap); the
    number of boxes, which fixes the key's shape, is static."""

    key_sorted: jax.Array  # int32 [S-1], keys of the non-ENDED table states, ascending
    key_order: jax.Array  # int32 [S-1], table index of each sorted key
    ended: jax.Array  # int32 [], table index of ENDED
    dense: jax.Array | None = None  # int32 [num_keys] key -> table index, or None (search)
    boxes: int = 2


def _radix(cells: int) -> int:
    return cells + 1


def _keys_numpy(agent: np.ndarray, grid: np.ndarray, boxes: int) -> np.ndarray:
    """Host-side keys of a batch of layouts (agent [N, 2], grid [N, rows, cols])."""
    n, rows, cols = grid.shape
    cells = rows * cols
    radix = _radix(cells)
    flat = grid.reshape(n, cells)
    keys = (agent[:, 0].astype(np.int64) * cols + agent[:, 1]) * radix**boxes
    for i in range(n):
        positions = np.flatnonzero(flat[i])
        if len(positions) > boxes:
            raise ValueError(f"layout {i} has {len(positions)} boxes, more than boxes={boxes}")
        padded = np.full(boxes, cells, np.int64)
        padded[: len(positions)] = positions
        keys[i] += int(sum(int(p) * radix ** (boxes - 1 - j) for j, p in enumerate(padded)))
    return keys


def state_index_arrays(
    tables: Tables, boxes: int | None = None, dense: bool | None = None
) -> StateIndex:
    """Sorted keys of every non-ENDED table state (host side, once per environment), plus the
    dense key -> index array when ``dense`` (default: when there are at most
    ``DENSE_MAX_KEYS`` possible keys).

    Raises ValueError if the keys would not fit in int32 (a board far beyond what the tabular
    compiler handles anyway).
    """
    boxes = int(tables.settings.get("boxes", 2)) if boxes is None else boxes
    live = np.arange(tables.num_states) != tables.ended
    agent = np.asarray(tables.states.agent)[live]
    grid = np.asarray(tables.states.grid)[live]
    cells = grid.shape[1] * grid.shape[2]
    largest = cells * _radix(cells) ** boxes
    if largest > INT32_MAX:
        raise ValueError(
            f"a board with {cells} cells and boxes={boxes} needs state keys up to {largest:,}, "
            "beyond int32; use a smaller board for tabular approvals"
        )
    keys = _keys_numpy(agent, grid, boxes)
    order = np.argsort(keys, kind="stable")
    if np.any(np.diff(keys[order]) == 0):
        raise ValueError("two table states share a key: the tables do not match this encoding")
    index = np.flatnonzero(live)[order]
    if dense is None:
        dense = largest <= DENSE_MAX_KEYS
    table = None
    if dense:
        # Keys no table state has (impossible layouts) point at ENDED; never used.
        table = np.full(largest, tables.ended, np.int32)
        table[keys[order]] = index
        table = jnp.asarray(table)
    return StateIndex(
        key_sorted=jnp.asarray(keys[order], jnp.int32),
        key_order=jnp.asarray(index, jnp.int32),
        ended=jnp.asarray(tables.ended, jnp.int32),
        dense=table,
        boxes=boxes,
    )


def state_key(state: cd.EnvState, boxes: int) -> jax.Array:
    """int32 key of one (unbatched) env state; ``boxes`` is static. vmap for batches.

    Elementwise only (a cumulative sum gives each box its rank), no gather or scatter: the
    j-th box (ascending cell order) at cell c adds ``c * radix**(boxes-1-j)``, and each
    missing box j adds the sentinel ``cells * radix**(boxes-1-j)``.
    """
    rows, cols = state.grid.shape
    cells = rows * cols
    radix = _radix(cells)
    powers = jnp.asarray([radix ** (boxes - 1 - j) for j in range(boxes)] + [0], jnp.int32)
    flat = state.grid.reshape(-1).astype(jnp.int32)
    rank = jnp.clip(jnp.cumsum(flat) - 1, 0, boxes)
    placed = jnp.sum(flat * jnp.arange(cells, dtype=jnp.int32) * powers[rank])
    present = jnp.sum(flat)
    missing = jnp.sum(jnp.where(jnp.arange(boxes) >= present, cells * powers[:boxes], 0))
    agent_cell = state.agent[0] * cols + state.agent[1]
    return (agent_cell * radix**boxes + placed + missing).astype(jnp.int32)


def table_index(state: cd.EnvState, index: StateIndex, boxes: int) -> jax.Array:
    """Table index of one env state (ENDED -> ``index.ended``). Pure JAX; vmap for batches.

    A state absent from the table (impossible for states reached by the env's own rules) maps
    to a neighbouring index rather than raising: errors cannot be raised inside jit, and the
    test suite checks the mapping on random reachable states.
    """
    key = state_key(state, boxes)
    if index.dense is not None:
        found = index.dense[jnp.clip(key, 0, index.dense.shape[0] - 1)]
    else:
        pos = jnp.searchsorted(index.key_sorted, key)
        found = index.key_order[jnp.clip(pos, 0, index.key_sorted.shape[0] - 1)]
    return jnp.where(state.ended, index.ended, found)


def lookup_approval(
    approval: jax.Array, state: cd.EnvState, action: jax.Array, index: StateIndex, boxes: int
) -> jax.Array:
    """``approval[t, s, a]`` for one env state at its own step ``t`` (``state.t``).

    Why ``state.t``: the trusted approval depends on the time left, and the env state carries
    the number of steps taken so far, which is exactly the table's t.
    """
    s = table_index(state, index, boxes)
    t = jnp.clip(state.t, 0, approval.shape[0] - 1)
    return approval[t, s, action]


def index(state: cd.EnvState, arrays: StateIndex) -> jax.Array:
    """Table index of one env state (the tables capability's ``index``)."""
    return table_index(state, arrays, arrays.boxes)
