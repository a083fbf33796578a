"""Frozen-policy continuation without tables: ``continuation-rollout``.

The approval of a step is ``R_obs(s')`` plus the observed return that a frozen policy collects
when it continues the episode from s' (``continuation.py``'s approval), where the frozen policy
is the greedy policy of an overseer trained by RL on the true reward (``overseer.py``) and the
continuation is *run*, inside the jitted trainer, from every state the agent enters: one batched
run of the longest possible continuation per rollout. With deterministic rules and a greedy
policy each continuation is one exact rollout; no tables are needed.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.approval.base import Approval, BuildContext, Step
from monarl.approval.overseer import QUALITY_MAX_STATES, OverseerSettings, needs
from monarl.core.protocols import ApprovalSpec, Family


def rollout_returns(policy_fn, state, finished, step_fn, observe_fn, max_steps: int):
    """Observed return a frozen deterministic policy collects from each of a batch of states
    (each at its own time t) to the end of its episode, by running it: the table-free twin of
    ``continuation.continuation_returns``, traceable by JAX.

    ``policy_fn(obs [N, ...]) -> actions [N]``; ``step_fn(state, actions) -> (state, reward,
    ended)`` for the batch (``ended``: the step terminated or truncated the episode);
    ``observe_fn(state) -> obs``; ``finished`` [N]: episodes already over (the step that
    entered the state ended them), which collect nothing. The loop runs the longest possible
    continuation (``max_steps`` steps) with finished states frozen."""

    def advance(carry, _):
        current, done, total = carry
        live = ~done
        nxt, reward, ended = step_fn(current, policy_fn(observe_fn(current)))
        total = total + jnp.where(live, reward, 0.0)
        keep = lambda new, old: jnp.where(  # noqa: E731
            live.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
        return (jax.tree_util.tree_map(keep, nxt, current), done | ended, total), None

    zeros = jnp.zeros(finished.shape, jnp.float32)
    (_, _, total), _ = jax.lax.scan(advance, (state, finished, zeros), None, length=max_steps)
    return total


class RolloutApproval(Approval):
    """``continuation-rollout`` for a run's seeds (see the module docstring)."""

    kind = "continuation-rollout"
    measured = True

    def __init__(self, ctx: BuildContext, settings: OverseerSettings) -> None:
        if ctx.overseer is None:
            raise ValueError("approval 'continuation-rollout' needs a trainer that trains "
                             "overseers")
        self.overseer = ctx.overseer(settings.overseer_steps, settings.overseer_start_time)
        self.ctx = ctx
        self.max_steps = ctx.env.max_steps(ctx.settings)

    @property
    def program_key(self) -> tuple:
        return ("continuation-rollout",)

    def arguments(self) -> tuple[Any, Any]:
        return self.overseer.actor, 0

    def reward(self, args: Any, state: Any, step: Step) -> tuple[Any, dict[str, Any]]:
        # the reward is set after the rollout, in one batch (finish)
        return step.observed, {"observed": step.observed, "next_env": step.next_state,
                               "ended": step.done}

    def finish(self, args: Any, state: Any, rewards: Any, extras: dict[str, Any], done: Any,
               last_state: Any, update: Any, key: Any) -> tuple[Any, Any]:
        env, params = self.ctx.env, self.ctx.params
        shape = extras["observed"].shape
        flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]),
                                      extras["next_env"])
        v_step = jax.vmap(env.step, in_axes=(None, 0, 0, None))
        v_observe = jax.vmap(env.observe, in_axes=(0, None))

        def step_fn(current, actions):
            _, nxt, observed, term, trunc, _ = v_step(key, current, actions, params)
            return nxt, observed, term | trunc

        returns = rollout_returns(lambda obs: self.overseer.act(args, obs), flat,
                                  extras["ended"].reshape(-1), step_fn,
                                  lambda current: v_observe(current, params), self.max_steps)
        return extras["observed"] + returns.reshape(shape), state

    def quality(self, index: int, policy: np.ndarray) -> dict[str, float] | None:
        tables = self.ctx.tables
        if (tables is None or tables.num_states > QUALITY_MAX_STATES
                or self.overseer.greedy_table is None):
            return None
        from monarl.approval.continuation import continuation_approval
        from monarl.approval.quality import approval_quality

        learned = continuation_approval(tables, self.overseer.greedy_table(index))
        exact = tables.cached("continuation_f32",
                              lambda: continuation_approval(tables).astype(np.float32))
        return approval_quality(tables, learned.astype(np.float32), exact, policy)

    def info(self) -> dict[str, Any]:
        return {"overseer": self.overseer.summary}


def family(settings: OverseerSettings) -> Family:
    if settings.overseer_start_time == "uniform":
        return Family("continuation-rollout-uniform", "overseer_steps", "overseer PPO steps",
                      "#80deea")
    return Family("continuation-rollout", "overseer_steps", "overseer PPO steps", "#4dd0e1")


SPEC = ApprovalSpec(
    name="continuation-rollout",
    summary="R_obs(s') + the observed return of the greedy policy of an overseer trained by PPO "
            "on the true reward, run on from s' (--overseer-steps); no tables needed.",
    settings=OverseerSettings,
    build=lambda ctx, settings: RolloutApproval(ctx, settings),
    needs=lambda settings: needs("continuation-rollout", "continuation"),
    family=family,
)
