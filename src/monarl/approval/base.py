"""What an approval is once built: one step-reward object every trainer consumes the same way.

MONA's training reward of a step is its approval (an approval already contains the step's
observed reward, e.g. ``R_obs(s') + V(t+1, s') - V(t, s)``), so a trainer never adds the
observed reward on top. An approval never sees rewards after the step it judges; the one that
does (``leak``) exists only as a labelled negative control.

Two faces, for two kinds of trainer:

- **tables** (:meth:`Approval.table`): a ``[T, S, A]`` array per seed, for the exact solver
  and for any trainer that looks approvals up by table index;
- **steps** (:meth:`Approval.reward` and friends): pure JAX functions a jitted trainer calls
  inside its rollout on a batch of steps (:class:`Step`), with per-seed arguments it vmaps
  over (:meth:`Approval.arguments`), optional state carried through training (the evaluator
  critic learns), and an optional pass over the finished rollout (the frozen-policy
  continuation runs the overseer's policy on from every state entered).

A table approval has both faces (its step face looks the table up); an approval computed from a
learned overseer has only the step face.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class Step(NamedTuple):
    """A batch of steps inside a rollout: the state acted in, the action, the state entered
    (before any auto-reset) and the environment's rewards of the step."""

    t: Any  # int32 [N] steps taken before this one (the state's time)
    state: Any  # env state [N]
    obs: Any  # [N, obs]
    action: Any  # [N] or [N, length]
    next_state: Any  # env state [N], before any auto-reset
    next_obs: Any  # [N, obs]
    observed: Any  # [N] observed reward
    true: Any  # [N] true reward
    terminated: Any  # [N] bool
    done: Any  # [N] bool: terminated or truncated


@dataclasses.dataclass
class Overseer:
    """An overseer trained by RL on the *true* reward, as a trainer hands it to an approval.

    ``critic`` / ``actor``: its networks, batched over the run's seeds (leading axis);
    ``value(critic, obs) -> [N]`` and ``act(actor, obs) -> [N]`` (greedy actions) are pure JAX
    functions of one seed's networks; ``summary``: what its own policy achieves (for reports);
    ``greedy_table(i)``: seed i's greedy policy ``[T, S]`` on the environment's tables, where
    they exist (to measure the approval against the exact one)."""

    critic: Any
    actor: Any
    value: Callable[[Any, Any], Any]
    act: Callable[[Any, Any], Any]
    summary: dict[str, Any]
    params: Any = None
    greedy_table: Callable[[int], np.ndarray] | None = None


@dataclasses.dataclass
class BuildContext:
    """What an approval may use when it is built for a run of ``seeds``: the environment, its
    parameters and tables (None beyond the tables), and, from trainers that can, a way to train
    an overseer (``overseer(steps, start_time) -> Overseer``)."""

    env: Any  # EnvSpec
    settings: Any
    params: Any
    tables: Any
    seeds: list[int]
    overseer: Callable[[int, str], Overseer] | None = None

    def require_tables(self, kind: str) -> Any:
        if self.tables is None:
            raise ValueError(f"approval {kind!r} needs the state tables, which this "
                             "environment does not have at these settings")
        return self.tables


class Approval:
    """Base of every built approval (see the module docstring). Subclasses override what they
    offer; the defaults say "not offered"."""

    kind: str = "approval"
    seed_dependent: bool = False
    measured: bool = False
    """True when :meth:`quality` measures the approval against an exact one."""

    # -- table face -------------------------------------------------------------------------

    def table(self, seed: int) -> np.ndarray | None:
        """``[T, S, A]`` float64 approval of seed ``seed`` (None: no table face)."""
        return None

    # -- step face (JAX) ------------------------------------------------------------------

    @property
    def program_key(self) -> tuple:
        """Static description of the step face: runs whose approvals share it share one
        compiled program (their differences are arguments)."""
        return (type(self).__name__,)

    def arguments(self) -> tuple[Any, Any]:
        """``(args, axes)``: the step face's arrays and the ``vmap`` axis of each (0: one per
        seed, None: shared)."""
        return None, None

    def init(self, args: Any) -> Any:
        """State carried through training (None: none)."""
        return None

    def reward(self, args: Any, state: Any, step: Step) -> tuple[Any, dict[str, Any]]:
        """The training reward of a batch of steps ``[N]``, and arrays to keep in the
        trajectory for :meth:`finish` (a dict; empty when not needed)."""
        raise NotImplementedError(f"approval {self.kind!r} has no step face")

    def finish(self, args: Any, state: Any, rewards: Any, extras: dict[str, Any], done: Any,
               last_state: Any, update: Any, key: Any) -> tuple[Any, Any]:
        """After a rollout of T steps: ``(rewards [T, N], state)``, the final training rewards
        and the new state (default: both unchanged)."""
        return rewards, state

    # -- measuring itself ------------------------------------------------------------------

    def quality(self, index: int, policy: np.ndarray) -> dict[str, float] | None:
        """How close seed ``index``'s approval is to the exact one it stands for, given the
        trained ``policy`` ([T, S] actions or [T, S, A] probabilities) on the tables (None:
        nothing to measure)."""
        return None

    def info(self) -> dict[str, Any]:
        """What a run records about the approval itself (e.g. its overseer's own results)."""
        return {}
