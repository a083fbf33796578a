"""Tomato Watering's exact tables, built by running :func:`rules.frame` on every state.

They exist only at ``dry_probability = 0``. With drying, every watered tomato may dry at
every step, so one (state, action) has up to 2^13 = 8,192 successors on the original board
(one per subset of the watered tomatoes): too many to store as ``[S, A, K]``, so
:func:`unavailable` refuses and PPO trains on the JAX rules instead.

At ``dry_probability = 0`` a watered tomato stays watered, so from the start only boards whose
watered tomatoes include the start's are reachable. The tables hold exactly those: every
non-wall agent cell x every superset of the start's watered tomatoes x the flag ``deluded``
("has stood on the transformation tile while a tomato was dry"; only 0 on the control, which
has no tile), plus the absorbing ENDED state that the tables' convention requires and this
environment never enters (no goal). The second outcome flag, ``tended``, equals ``watered`` in
every reachable state when nothing dries, so it adds no states. Original board: 29 x 2^5 x 2
+ 1 = 1,857 states, 1,665 of them reachable from the start; control: 929.
"""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.envs.tomato_watering import rules
from monarl.envs.tomato_watering.board import ART, CONTROL_ART, render
from monarl.envs.tomato_watering.params import describe, start_states
from monarl.envs.tomato_watering.settings import TomatoWateringSettings
from monarl.tabular.tables import Tables, deterministic, key_index

ROWS, COLS = len(ART), len(ART[0])
"""The tables exist for the original's board only (the settings cannot change its layout), so
the state key uses its size."""


def state_key(state: rules.TomatoState) -> jax.Array:
    """int32 key of one (unbatched) state: ``(deluded * cells + agent cell) * 2^n + watered
    bitmask``, ENDED above every live key. Traceable; ``tended`` is left out (it equals
    ``watered`` wherever the tables exist)."""
    n = state.watered.shape[0]
    bits = jnp.left_shift(jnp.int32(1), jnp.arange(n, dtype=jnp.int32))
    mask = jnp.sum(jnp.where(state.watered, bits, 0)).astype(jnp.int32)
    cells = ROWS * COLS
    cell = state.agent[0].astype(jnp.int32) * COLS + state.agent[1].astype(jnp.int32)
    live = (state.deluded.astype(jnp.int32) * cells + cell) * (2**n) + mask
    return jnp.where(state.ended, 2 * cells * 2**n, live).astype(jnp.int32)


index_arrays, index = key_index(state_key)


def unavailable(settings: TomatoWateringSettings) -> tuple[dict[str, Any], str] | None:
    """Why there are no tables at these settings (``TablesSpec.unavailable``), or None."""
    if settings.dry_probability > 0:
        tomatoes = sum(line.count("t") + line.count("T") for line in ART)
        return ({"dry_probability": settings.dry_probability},
                f"the exact tables exist only at dry_probability=0: with drying, each of up to "
                f"{tomatoes} watered tomatoes may dry at every step, so one (state, action) has "
                f"up to 2^{tomatoes} = {2**tomatoes:,} successors")
    return None


def count_states(settings: TomatoWateringSettings) -> int:
    """States of the tables at these settings, without building anything: agent cells x
    watered sets x the flag ``deluded`` (on boards with the tile) + ENDED (every watered set
    once tomatoes can dry; the supersets of the start's at ``dry_probability = 0``). Exact."""
    art = ART if settings.transformer else CONTROL_ART
    cells = sum(ch != "#" for line in art for ch in line)
    tomatoes = sum(line.count("t") + line.count("T") for line in art)
    dry = sum(line.count("t") for line in art)  # the agent starts on floor: frame 0 waters none
    flags = 2 if settings.transformer else 1
    free_bits = dry if settings.dry_probability == 0 else tomatoes
    return cells * 2**free_bits * flags + 1


def enumerate_states(params: rules.TomatoParams) -> rules.TomatoState:
    """Every table state (numpy leaves, t = 0), ENDED last: see the module docstring."""
    start = jax.tree_util.tree_map(lambda x: np.asarray(x)[0], start_states(params))
    start_watered = start.watered.astype(bool)
    dry_ids = np.flatnonzero(~start_watered)
    free = np.asarray(params.free)
    cells = np.stack([free // params.cols, free % params.cols], axis=1).astype(np.int32)
    flags = (False, True) if params.has_transformer else (False,)
    agents, watered, deluded = [], [], []
    for flag, cell, bits in itertools.product(flags, cells,
                                              range(2 ** len(dry_ids))):
        w = start_watered.copy()
        w[dry_ids[[(bits >> i) & 1 == 1 for i in range(len(dry_ids))]]] = True
        agents.append(cell)
        watered.append(w)
        deluded.append(flag)
    agents.append(np.zeros(2, np.int32))
    watered.append(np.zeros(params.tomatoes, bool))
    deluded.append(False)
    n = len(agents)
    watered_arr = np.asarray(watered, bool)
    return rules.TomatoState(agent=np.asarray(agents, np.int32), watered=watered_arr,
                             tended=watered_arr.copy(), deluded=np.asarray(deluded, bool),
                             ended=np.arange(n) == n - 1, t=np.zeros(n, np.int32))


@jax.jit
def _step_all(states: rules.TomatoState, params: rules.TomatoParams):
    """Successor and (observed, true) reward of every (state, action), nothing drying."""

    def one(state, action):
        dries = jnp.zeros(params.tomatoes, bool)
        return rules.frame(state, jnp.asarray(rules._MOVES)[action], dries, params)

    actions = jnp.arange(len(rules.ACTIONS))
    per_action = jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))
    nxt, observed, true = per_action(states, actions)
    keys = jax.vmap(jax.vmap(state_key))(nxt)
    return keys, observed, true, jax.vmap(state_key)(states), jax.vmap(rules.outcome_of)(states)


def compile_tables(params: rules.TomatoParams) -> Tables:
    """The tables at these parameters (same rules as :func:`rules.step`); a ValueError with
    the reason when tomatoes can dry."""
    if float(params.dry_probability) > 0:
        raise ValueError(f"dry_probability={float(params.dry_probability)!r}: the exact tables "
                         "exist only at dry_probability=0 (with drying one (state, action) has "
                         f"up to 2^{params.tomatoes} successors)")
    states = enumerate_states(params)
    with jax.enable_x64(True):  # rewards in float64, exactly as the rules state them
        keys, observed, true, own, outcome = jax.device_get(
            _step_all(jax.tree_util.tree_map(jnp.asarray, states), params))
    num = len(own)
    order = np.argsort(own)
    if np.any(np.diff(own[order]) == 0):
        raise AssertionError("two table states share a key")

    def lookup(k: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(own[order], k), 0, num - 1)
        if not np.array_equal(own[order][pos], k):
            raise AssertionError("a successor is missing from the tables")
        return order[pos].astype(np.int32)

    successor = lookup(keys.reshape(-1)).reshape(keys.shape)
    outcome = np.array(outcome, np.int32)
    ended = num - 1
    outcome[ended] = -1
    start = jax.tree_util.tree_map(lambda x: np.asarray(x)[0], start_states(params))
    initial = lookup(np.asarray([int(state_key(start))]))

    def host_index(state: rules.TomatoState) -> int:
        return int(lookup(np.asarray([int(state_key(state))]))[0])

    return deterministic(
        successor, np.asarray(observed, np.float64), np.asarray(true, np.float64),
        outcome=outcome, initial=initial, ended=ended, max_steps=params.max_steps,
        outcomes=rules.OUTCOMES, settings=describe(params), states=states,
        render_state=lambda state: render(state, params), host_index=host_index)
