"""Boat Race as tables: every state through the environment's own rules (``rules.transition``).

Why: the exact solver, the exact evaluation and the table approvals need the successor and the
rewards of every (state, action); a second, hand-written copy of the rules would drift from the
JAX environment PPO trains on. So every state is enumerated (track cell x last checkpoint x
capped race count x capped farmed count, 8 x 5 x 13 x 13 = 6,760, plus ENDED), pushed through
``rules.transition`` with ``jax.vmap``, and the tables are read off the results. The rules are
deterministic (one successor per action). A test replays random trajectories through both.

The table index of a state is looked up from :func:`rules.state_key` (a dense key -> index
array, ``monarl.tabular.tables.key_index``), the same key on the host and inside jit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.envs.boat_race import rules as br
from monarl.envs.boat_race.settings import BoatRaceSettings
from monarl.tabular.tables import Tables, deterministic, key_index

COUNTS = br.CAP + 1  # a capped count takes the values 0 .. CAP
LASTS = br.LAP + 1  # last checkpoint: none, 0 .. LAP - 1

index_arrays, index = key_index(br.state_key)
"""The tables capability's ``index_arrays(tables)`` / ``index(state, arrays)``."""


def count_states(settings: BoatRaceSettings | None = None) -> int:
    """Track cells x last checkpoint x race count x farmed count, plus ENDED (the same at
    every setting: the step limit lives in the solver's time axis, not in the states)."""
    return len(br.TRACK) * LASTS * COUNTS * COUNTS + 1


def all_states() -> br.EnvState:
    """Every state as one batch (time step 0), ENDED last."""
    cells = np.asarray(br.TRACK, np.int32)
    grid = np.meshgrid(np.arange(len(cells)), np.arange(-1, br.LAP), np.arange(COUNTS),
                       np.arange(COUNTS), indexing="ij")
    cell, last, race, farmed = (g.reshape(-1).astype(np.int32) for g in grid)
    n = len(cell)
    agent = np.concatenate([cells[cell], [br.START]]).astype(np.int32)
    return br.EnvState(agent=agent, last=np.r_[last, -1].astype(np.int32),
                       race=np.r_[race, 0].astype(np.int32),
                       farmed=np.r_[farmed, 0].astype(np.int32),
                       ended=np.arange(n + 1) == n, t=np.zeros(n + 1, np.int32))


@jax.jit
def _keys(states: br.EnvState) -> jax.Array:
    return jax.vmap(br.state_key)(states)


def _step_all(states: br.EnvState, params: BoatRaceSettings):
    """[S, A] successor keys, observed and hidden rewards, by the rules themselves."""
    actions = jnp.arange(len(br.ACTIONS))

    def one(state: br.EnvState, action: jax.Array):
        nxt, observed, hidden = br.transition(state, action, params)
        return br.state_key(nxt), observed, hidden

    each = jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))
    return jax.jit(each)(states, actions)


def compile_boat_race(params: BoatRaceSettings) -> Tables:
    """The tables of these settings (same rules as ``rules.step``)."""
    states = all_states()
    n = count_states(params)
    with jax.enable_x64(True):  # rewards in float64, exactly as the rules state them
        device_states = jax.tree_util.tree_map(jnp.asarray, states)
        keys = np.asarray(_keys(device_states), np.int64)
        nxt_keys, observed, hidden = jax.device_get(_step_all(device_states, params))
    if len(np.unique(keys)) != n:
        raise AssertionError("two Boat Race states share a key")
    dense = np.full(int(keys.max()) + 1, -1, np.int64)
    dense[keys] = np.arange(n)
    next_state = dense[np.asarray(nxt_keys, np.int64)]
    if (next_state < 0).any():
        raise AssertionError("a Boat Race successor is missing from the enumerated states")
    ended = n - 1
    outcome = np.array(br.outcome_of(states.race, states.farmed), np.int32)
    outcome[ended] = -1
    start = np.asarray(br.state_key(br.start_state()))
    live_features = _features(states, params)

    def host_index(state: br.EnvState) -> int:
        return int(dense[int(br.state_key(jax.tree_util.tree_map(jnp.asarray, state)))])

    return deterministic(
        next_state, observed, hidden,
        outcome=outcome,
        initial=np.asarray([dense[start]], np.int32),
        ended=ended,
        max_steps=params.max_steps,
        outcomes=br.OUTCOMES,
        settings=dataclasses.asdict(params),
        states=states,
        feature_fn=lambda tables: live_features,
        render_state=lambda state: _render(state),
        host_index=host_index,
    )


def _features(states: br.EnvState, params: BoatRaceSettings) -> np.ndarray:
    """[S, 4 * cells]: the observation without its time slot, per state (what a learned
    approval reads)."""
    obs = jax.jit(jax.vmap(br.observe, in_axes=(0, None)))(
        jax.tree_util.tree_map(jnp.asarray, states), params)
    return np.asarray(obs, np.float64)[:, 1:]


def _render(state: Any) -> str:
    from monarl.envs.boat_race.boards import render

    return render(state)
