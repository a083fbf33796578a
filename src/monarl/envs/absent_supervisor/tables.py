"""Absent Supervisor as tables: every state through the environment's own rules.

Why: the exact solver, the exact evaluation and the table approvals need successors and
rewards per (state, action); writing them by hand would be a second copy of the rules. So the
48 live states (12 agent cells x supervisor present or not x punished or not) are pushed
through ``rules.transition`` with ``jax.vmap`` and the tables read off the results, plus
ENDED. The rules are deterministic (K = 1). Every setting gives the same 49 states; the
supervisor setting only chooses the start states (one or two). The goal states are
``terminal``: entering one ends the episode (``rules.step`` reports it), and the tables' step
from one into ENDED is not counted in episode lengths.
"""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.envs.absent_supervisor import boards, rules
from monarl.tabular.tables import Tables, deterministic, key_index, observations

NUM_LIVE = len(rules.FREE_CELLS) * 2 * 2
NUM_STATES = NUM_LIVE + 1  # ENDED last
ENDED_KEY = rules.ROWS * rules.COLS * 4


def count_states(settings: Any = None) -> int:
    """The number of table states (49 whatever the settings)."""
    return NUM_STATES


def state_key(state: rules.EnvState) -> jax.Array:
    """A distinct int32 key of one (unbatched) state: ``(cell * 2 + supervisor) * 2 +
    punished`` with cell = row * 8 + col, and :data:`ENDED_KEY` for ENDED. Traceable."""
    cell = state.agent[0] * rules.COLS + state.agent[1]
    key = (cell * 2 + state.supervisor.astype(jnp.int32)) * 2 + state.punished.astype(jnp.int32)
    return jnp.where(state.ended, ENDED_KEY, key).astype(jnp.int32)


index_arrays, index = key_index(state_key)


def all_states() -> rules.EnvState:
    """Every table state as one batched state (time step 0), ENDED last."""
    rows = list(itertools.product(rules.FREE_CELLS, (False, True), (False, True)))
    agent = np.asarray([cell for cell, _, _ in rows] + [(0, 0)], np.int32)
    supervisor = np.asarray([s for _, s, _ in rows] + [False])
    punished = np.asarray([p for _, _, p in rows] + [False])
    ended = np.arange(NUM_STATES) == NUM_LIVE
    return rules.EnvState(agent=agent, supervisor=supervisor, punished=punished, ended=ended,
                          t=np.zeros(NUM_STATES, np.int32))


@jax.jit
def _step_all(states: rules.EnvState):
    """Successor keys and rewards of every (state, action), and every state's outcome, key
    and whether it is a goal state (terminal)."""
    actions = jnp.arange(len(rules.ACTIONS))
    each = jax.vmap(jax.vmap(rules.transition, in_axes=(None, 0)), in_axes=(0, None))
    nxt, observed, true = each(states, actions)
    keys = jax.vmap(jax.vmap(state_key))(nxt)
    return (keys, observed, true, jax.vmap(rules.outcome_of)(states),
            jax.vmap(state_key)(states), jax.vmap(rules.at_goal)(states))


def compile_tables(params: rules.AbsentSupervisorParams) -> Tables:
    """The tables of these parameters (the same rules as ``rules.step``)."""
    states = all_states()
    jstates = jax.tree_util.tree_map(jnp.asarray, states)
    keys, observed, true, outcome, own, goal = jax.device_get(_step_all(jstates))
    lookup = np.full(ENDED_KEY + 1, -1, np.int64)
    lookup[own] = np.arange(NUM_STATES)
    next_state = lookup[keys]
    if (next_state < 0).any():  # the rules left the enumerated states: a bug, never silent
        raise AssertionError("a successor is not among the enumerated table states")
    outcome = np.array(outcome, np.int32)
    outcome[NUM_LIVE] = -1
    starts = jax.tree_util.tree_map(np.asarray, rules.start_states(params))
    initial = lookup[np.asarray(jax.vmap(state_key)(
        jax.tree_util.tree_map(jnp.asarray, starts)))].astype(np.int32)

    def host_index(state: rules.EnvState) -> int:
        return int(lookup[int(state_key(jax.tree_util.tree_map(jnp.asarray, state)))])

    def features(tables: Tables) -> np.ndarray:
        """The observation board of every state (no time entry): learned approvals' inputs."""
        n = tables.num_states
        obs = observations(tables, rules.observe, params, np.zeros(n, np.int32), np.arange(n))
        return np.asarray(obs, np.float64)[:, 1:]

    return deterministic(
        next_state, np.asarray(observed, np.float64), np.asarray(true, np.float64),
        outcome=outcome, initial=initial, ended=NUM_LIVE, max_steps=params.max_steps,
        outcomes=rules.OUTCOMES, settings=rules.env_settings(params),
        terminal=np.asarray(goal, bool), states=states,
        feature_fn=features, render_state=boards.render, host_index=host_index)
