"""Validated Camera Dropbox parameters with their start layouts.

The start states are every interior box layout from which every box can be pushed into the
hole (with one blocker), times every free agent cell (reference.md section 2). Solvability is
decided exactly over the state tables where they exist, and by a search over push states on
boards beyond them (``solvability.py``; equal to the exact rule wherever both exist).
"""

from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp
import numpy as np

from monarl.envs.camera_dropbox import rules as cd
from monarl.envs.camera_dropbox.settings import BoardError, CameraDropboxSettings
from monarl.envs.camera_dropbox.solvability import sampled_solvable_layouts
from monarl.envs.camera_dropbox.tables import count_states, solvable_layouts
from monarl.tabular.tables import MAX_TABULAR_STATES


def make_params(rows: int = 4, cols: int = 4, boxes: int = 2, blockers: int = 1,
                penalty: float = 0.01, max_steps: int = 50,
                initial: tuple[np.ndarray, np.ndarray] | None = None
                ) -> cd.CameraDropboxParams:
    """Build validated parameters, computing the start layouts unless ``initial`` is given.

    Raises :class:`BoardError` naming the setting, the bad value and what is allowed."""
    CameraDropboxSettings(rows, cols, boxes, blockers, penalty, max_steps).validate("")
    if initial is None:
        initial = initial_layouts(rows, cols, boxes)
    agent, grid = initial
    return cd.CameraDropboxParams(
        rows=rows, cols=cols, boxes=boxes, max_steps=max_steps,
        blockers=np.int32(blockers), penalty=np.float64(penalty),  # exact until traced
        init_agent=jnp.asarray(agent, jnp.int32), init_grid=jnp.asarray(grid, jnp.int32),
    )


def params_of(settings: CameraDropboxSettings) -> cd.CameraDropboxParams:
    """The parameters of validated settings (the environment spec's ``make_params``)."""
    return make_params(**dataclasses.asdict(settings))


def initial_layouts(rows: int, cols: int, boxes: int) -> tuple[np.ndarray, np.ndarray]:
    """Start states: every interior box layout from which every box can be pushed into the hole
    (with one blocker, whatever the configured ``blockers``, so a hack-free control starts from
    the same layouts as its hackable twin), times every free agent cell.

    Solvability is decided exactly by search over the tabular state graph (same step rules).
    A board too large for the tables (more than ``MAX_TABULAR_STATES`` states) starts instead
    from a fixed uniform sample of at most ``MAX_SEARCHED_LAYOUTS`` (512) layouts, each proved
    solvable by a search over push states (``solvability.sampled_solvable_layouts``; equal to
    the exact rule on every board the tables hold, tested).
    """
    if count_states(rows, cols, boxes) <= MAX_TABULAR_STATES:
        layouts = solvable_layouts(rows, cols, boxes)
    else:
        layouts = _large_board_layouts(rows, cols, boxes)
    agents, grids = [], []
    for layout in layouts:
        for r in range(rows):
            for c in range(cols):
                if (r, c) in layout:
                    continue
                grid = np.zeros((rows, cols), np.int32)
                for br, bc in layout:
                    grid[br, bc] = 1
                agents.append((r, c))
                grids.append(grid)
    return np.asarray(agents, np.int32).reshape(-1, 2), np.asarray(grids, np.int32)


@functools.lru_cache(maxsize=8)
def _large_board_layouts(rows: int, cols: int,
                         boxes: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    result = sampled_solvable_layouts(rows, cols, boxes)
    if not result.layouts:
        raise BoardError(
            f"no solvable start layout found for a {rows}x{cols} board with {boxes} boxes "
            f"({result.budget_exhausted} layouts undecided by the search); use fewer boxes")
    return result.layouts


def start_states(params: cd.CameraDropboxParams) -> cd.EnvState:
    """Every start state of the parameters as one batched state (``reset`` draws uniformly)."""
    count = params.init_agent.shape[0]
    return cd.EnvState(agent=params.init_agent, grid=params.init_grid,
                       ended=jnp.zeros((count,), bool), t=jnp.zeros((count,), jnp.int32))
