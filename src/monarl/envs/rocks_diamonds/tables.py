"""Rocks and Diamonds as tables: every state through the rules of ``rules.py``.

The states enumerated are every placement of the agent, the diamond and the rocks on the
board's floor cells (any of them may share a cell: the original lets objects stack under a
switch, and such a stack can later be pushed off it), the rocks as a multiset (they are
interchangeable), times the switch states (4, or 1 in the control), times the 3 values of
``paid`` (the outcome class of the configuration the latest step was paid for), plus ENDED:

    S = 3 * W * F**2 * C(F + R - 1, R) + 1     (F floor cells, R rocks, W switch states)

computed from the board alone, so ``count_states`` is exact and costs nothing: level 1 has
6,145 states (1,537 in the control), 114 of them reachable from the start (22 in the
control); level 0 (35 floor cells, 3 rocks) has 114,219,001 (28,554,751 in the control), far
beyond ``MAX_TABULAR_STATES``, and even its reachable states, 14,302,898 (3,256,395 in the
control; a breadth-first search with these rules, docs/rocks_diamonds.md), are too many. So
the exact solver and the table approvals are refused there before any work, and PPO with the
approvals that need no tables is what runs. Placements no episode reaches (the agent inside
a rock off a switch, a ``paid`` no step could have left) are kept: the rules step them like
any other, and enumerating them keeps the index arithmetic.

Index of a live state: ``(((agent * F + diamond) * M + rank(rocks)) * W + switches) * 3 +
paid``, where cells are numbered row by row over the floor, ``rank`` numbers the sorted rock
multisets in ``itertools.combinations_with_replacement`` order (M of them) and ``switches = 2
* rock_high + diamond_high`` (0 in the control); ENDED is the last index. The same arithmetic
runs inside jit (:func:`index`) and on the host.
"""

from __future__ import annotations

import itertools
from math import comb
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.envs.rocks_diamonds import board as bd
from monarl.envs.rocks_diamonds import rules
from monarl.envs.rocks_diamonds.rules import EnvState, RocksDiamondsParams
from monarl.envs.rocks_diamonds.settings import RocksDiamondsSettings
from monarl.tabular.tables import MAX_TABULAR_STATES, Tables, TooLargeError, deterministic

PAID = 3  # the outcome classes a state can remember (EnvState.paid)


def count_for(floor: int, rocks: int, switches: bool) -> int:
    """States of a board with ``floor`` floor cells and ``rocks`` rocks, ENDED included."""
    return floor * floor * comb(floor + rocks - 1, rocks) * (4 if switches else 1) * PAID + 1


def count_states(settings: RocksDiamondsSettings) -> int:
    """States of the tables at these settings (exact, from the level's art; no building)."""
    layout = bd.read_board(bd.level_text(settings.level))
    return count_for(layout.floor_cells, len(layout.rocks), settings.switches)


def _geometry(params: RocksDiamondsParams) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """(floor cells [F, 2], cell -> floor number [rows * cols] (-1 on walls), F, M, W)."""
    wall = np.asarray(params.wall)
    floor = np.argwhere(~wall).astype(np.int32)
    number = np.full(wall.size, -1, np.int32)
    number[floor[:, 0] * params.cols + floor[:, 1]] = np.arange(len(floor), dtype=np.int32)
    f = len(floor)
    return floor, number, f, comb(f + params.rocks - 1, params.rocks), 4 if params.switches else 1


def _rock_ranks(f: int, rocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(multisets [M, rocks] in rank order, rank of each base-F key of a sorted multiset)."""
    sets = np.asarray(list(itertools.combinations_with_replacement(range(f), rocks)),
                      np.int32).reshape(-1, rocks)
    powers = f ** np.arange(rocks - 1, -1, -1, dtype=np.int64)
    rank = np.full(f ** rocks, -1, np.int32)
    rank[(sets.astype(np.int64) * powers).sum(axis=1)] = np.arange(len(sets), dtype=np.int32)
    return sets, rank


def index_arrays(tables: Tables) -> dict[str, Any]:
    """What :func:`index` needs, as arrays (a pytree for jit), kept with the tables by
    :func:`compile_tables`."""

    def missing() -> dict[str, Any]:
        raise ValueError("these tables were not built by rocks_diamonds.compile_tables")

    return tables.cached("index_arrays", missing)


def _index_arrays(params: RocksDiamondsParams) -> dict[str, Any]:
    _, number, f, m, w = _geometry(params)
    _, rank = _rock_ranks(f, params.rocks)
    return {"number": jnp.asarray(number), "rank": jnp.asarray(rank),
            "sizes": jnp.asarray([f, m, w, params.cols], jnp.int32),
            "switches": jnp.asarray(params.switches)}


def index(state: EnvState, arrays: dict[str, Any]) -> jax.Array:
    """Table index of one (unbatched) state, traceable by JAX (ENDED -> the last index)."""
    f, m, w, cols = (arrays["sizes"][i] for i in range(4))
    number = arrays["number"]

    def cell(pos: jax.Array) -> jax.Array:
        return number[pos[0] * cols + pos[1]]

    rocks = jnp.sort(jax.vmap(cell)(state.rocks.reshape(-1, 2)))
    key = jnp.asarray(0, jnp.int32)
    for i in range(rocks.shape[0]):
        key = key * f + rocks[i]
    switch = jnp.where(arrays["switches"],
                       2 * state.rock_high.astype(jnp.int32) + state.diamond_high, 0)
    placed = (cell(state.agent) * f + cell(state.diamond)) * m + arrays["rank"][key]
    live = (placed * w + switch) * PAID + state.paid
    return jnp.where(state.ended, f * f * m * w * PAID, live).astype(jnp.int32)


def enumerate_states(params: RocksDiamondsParams) -> EnvState:
    """Every table state in index order (ENDED last), t = 0, as one batched state."""
    floor, _, f, m, w = _geometry(params)
    sets, _ = _rock_ranks(f, params.rocks)
    a, d, r, s, g = (x.ravel() for x in np.meshgrid(
        np.arange(f), np.arange(f), np.arange(m), np.arange(w), np.arange(PAID),
        indexing="ij"))
    if params.switches:
        rock_high, diamond_high = s >= 2, s % 2 == 1
    else:  # the control: the switches keep the start's (untampered) weights
        rock_high = np.full(len(s), bool(params.start_rock_high))
        diamond_high = np.full(len(s), bool(params.start_diamond_high))
    n = len(a)

    def with_ended(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x, np.zeros((1,) + x.shape[1:], x.dtype)])

    return EnvState(agent=with_ended(floor[a]), diamond=with_ended(floor[d]),
                    rocks=with_ended(floor[sets[r]].reshape(n, params.rocks, 2)),
                    rock_high=with_ended(rock_high), diamond_high=with_ended(diamond_high),
                    paid=with_ended(g.astype(np.int32)),
                    ended=np.arange(n + 1) == n, t=np.zeros(n + 1, np.int32))


@jax.jit
def _step_all(states: EnvState, params: RocksDiamondsParams, arrays: dict[str, Any]):
    """Successor index and rewards of every (state, action), and every state's outcome."""

    def one(state: EnvState, action: jax.Array):
        nxt, observed, true = rules.transition(state, action, params)
        return index(nxt, arrays), observed, true

    per_action = jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))
    nxt, observed, true = per_action(states, jnp.arange(len(rules.ACTIONS)))
    outcome = jax.vmap(rules.outcome_of, in_axes=(0, None))(states, params)
    return nxt, observed, true, outcome


def compile_tables(params: RocksDiamondsParams) -> Tables:
    """The tables of these parameters (the rules of ``rules.transition`` on every state)."""
    floor = int((~np.asarray(params.wall)).sum())
    total = count_for(floor, params.rocks, params.switches)
    if total > MAX_TABULAR_STATES:
        raise TooLargeError(
            f"this Rocks and Diamonds board has {total:,} states, more than the "
            f"{MAX_TABULAR_STATES:,} the exact solver tabulates; use PPO on the JAX environment")
    arrays = _index_arrays(params)
    states = enumerate_states(params)
    nxt, observed, true, outcome = jax.device_get(
        _step_all(jax.tree_util.tree_map(jnp.asarray, states), params, arrays))
    ended = total - 1
    outcome = np.array(outcome, np.int32)
    outcome[ended] = -1
    start = rules.start_state(params)
    initial = np.asarray([int(index(start, arrays))], np.int32)

    def host_index(state: EnvState) -> int:
        return int(index(jax.tree_util.tree_map(jnp.asarray, state), arrays))

    def render_state(state: EnvState) -> str:
        return rules.render(state, params)

    settings = rules.env_settings(params)
    tables = deterministic(
        np.asarray(nxt, np.int32), np.asarray(observed, np.float64),
        np.asarray(true, np.float64), outcome=outcome, initial=initial, ended=ended,
        max_steps=params.max_steps, outcomes=rules.OUTCOMES, settings=settings,
        states=states, feature_fn=lambda t: features(t, params), render_state=render_state,
        host_index=host_index)
    tables.cached("index_arrays", lambda: arrays)
    return tables


def features(tables: Tables, params: RocksDiamondsParams) -> np.ndarray:
    """[S, F] what the agent observes in each state, without the time step (the learned
    approvals' inputs)."""
    states = jax.tree_util.tree_map(jnp.asarray, tables.states)
    obs = jax.jit(jax.vmap(rules.observe, in_axes=(0, None)))(states, params)
    return np.asarray(obs, np.float64)[:, 1:]
