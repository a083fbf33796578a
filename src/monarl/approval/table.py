"""Approvals that are a ``[T, S, A]`` table: the exact solver trains on the table, a jitted
trainer looks it up at each step's own state and time.

Why ``state.t``: the trusted approval depends on the time left, and an environment state
carries the number of steps taken so far, which is exactly the table's t. The state's table
index comes from the environment's tables capability (``TablesSpec.index``), traceable by JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.approval.base import Approval, Step


class TableApproval(Approval):
    """A table approval of ``kind`` for a run's seeds.

    ``build(seed) -> [T, S, A]`` float64 (seeded with the training seed when
    ``seed_dependent``, else built once); ``env``/``tables``: the environment spec and its
    tables (for the in-jit index); ``reference(seed)``: the exact approval it stands for, when
    it is an estimate of one (learned), to measure its quality against."""

    def __init__(self, kind: str, env: Any, tables: Any, seeds: list[int],
                 build: Callable[[int], np.ndarray], seed_dependent: bool,
                 reference: Callable[[int], np.ndarray] | None = None) -> None:
        self.kind = kind
        self.env = env
        self.tables = tables
        self.seeds = list(seeds)
        self.seed_dependent = seed_dependent
        self._build = build
        self._reference = reference
        self.measured = reference is not None
        self._shared: np.ndarray | None = None
        self._handed: np.ndarray | None = None

    # -- table face -------------------------------------------------------------------------

    def table(self, seed: int) -> np.ndarray:
        if self.seed_dependent:
            return self._build(seed)
        if self._shared is None:
            self._shared = self._build(0)
        return self._shared

    def trained_tables(self) -> np.ndarray:
        """The float32 table(s) a jitted trainer trains on: ``[T, S, A]`` shared by the seeds,
        or ``[seeds, T, S, A]`` when the approval depends on the seed."""
        if self._handed is None:
            if self.seed_dependent:
                self._handed = np.stack([np.asarray(self.table(s), np.float32)
                                         for s in self.seeds])
            else:
                self._handed = np.asarray(self.table(0), np.float32)
        return self._handed

    # -- step face --------------------------------------------------------------------------

    @property
    def program_key(self) -> tuple:
        return ("table",)

    def arguments(self) -> tuple[Any, Any]:
        table = self.trained_tables()
        index = self.tables.cached("index_arrays",
                                   lambda: self.env.tables.index_arrays(self.tables))
        return (jnp.asarray(table), index), (0 if table.ndim == 4 else None, None)

    def reward(self, args: Any, state: Any, step: Step) -> tuple[Any, dict[str, Any]]:
        table, index = args
        look = jax.vmap(lambda s, a: table_lookup(table, self.env.tables.index, index, s, a))
        return look(step.state, step.action), {}

    # -- quality ------------------------------------------------------------------------------

    def quality(self, index: int, policy: np.ndarray) -> dict[str, float] | None:
        """Rank correlation and error against the exact approval it estimates (learned)."""
        if self._reference is None:
            return None
        from monarl.approval.quality import approval_quality

        seed = self.seeds[index]
        if self._handed is not None:  # what the trainer trained on
            table = self._handed[index] if self._handed.ndim == 4 else self._handed
        else:
            table = self.table(seed)
        return approval_quality(self.tables, table, self._reference(seed), policy)


def table_lookup(table: Any, index_fn: Callable, index: Any, state: Any, action: Any) -> Any:
    """``table[t, s, a]`` for one env state at its own step ``state.t`` (unbatched)."""
    s = index_fn(state, index)
    t = jnp.clip(state.t, 0, table.shape[0] - 1)
    return table[t, s, action]
