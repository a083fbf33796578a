"""Trusted advantage from a *learned* overseer value: the MONA approval that needs no tables.

The paper's approval (``trusted.py``) is ``R_obs(s') + V(t+1, s') - V(t, s)`` with V the exact
finite-horizon optimum of the true reward, which value iteration computes over every state. On
an environment too large to tabulate no such V exists, so here the overseer *learns* its
foresight: V is the critic of an RL run on the **true** reward (``overseer.py``). The approval is
the same formula with that critic:

    approval(t, s, a, s') = R_obs(s') + V_critic(t+1, s') - V_critic(t, s),   0 at the last step,

with the conventions of ``trusted.py``: the value of the last step and of a terminal state is 0.
The approval still never sees what happens after the step it judges: V_critic is a function of
the state (the observation holds the time step), fixed before the MONA run starts.

It is a function of (t, state, action, next state), traceable by JAX and vmappable, not a
[T, S, A] table; ``critic_table`` builds the same approval as a table where tables exist, so it
can be compared with the exact one (rank correlation, error on visited steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.approval.base import Approval, BuildContext, Step
from monarl.approval.overseer import QUALITY_MAX_STATES, OverseerSettings, needs
from monarl.core.protocols import ApprovalSpec, Family
from monarl.tabular.tables import Tables, observations

ValueFn = Callable[[jax.Array], jax.Array]
"""Observations [N, obs] -> the overseer's values [N]."""


def overseer_values(value_fn: ValueFn, obs: jax.Array, t: jax.Array, ended: jax.Array,
                    max_steps: int) -> jax.Array:
    """V(t, s) of the learned overseer with ``trusted.py``'s conventions: 0 for an ended state
    and from the last step on (t >= T - 1), where approval pays nothing."""
    values = value_fn(obs)
    return jnp.where(ended | (t >= max_steps - 1), 0.0, values)


def critic_approval(value_fn: ValueFn, obs: jax.Array, t: jax.Array, ended: jax.Array,
                    next_obs: jax.Array, next_ended: jax.Array, observed_reward: jax.Array,
                    max_steps: int) -> jax.Array:
    """Approval of a batch of steps: ``R_obs(s') + V(t+1, s') - V(t, s)``, 0 at the last step.

    ``obs``/``t``/``ended``: the states acted in; ``next_obs``/``next_ended``: the states
    entered (before any auto-reset; ended = the step terminated the episode);
    ``observed_reward``: R_obs(s') of each step."""
    v_now = overseer_values(value_fn, obs, t, ended, max_steps)
    v_next = overseer_values(value_fn, next_obs, t + 1, next_ended, max_steps)
    return jnp.where(t >= max_steps - 1, 0.0, observed_reward + v_next - v_now)


def critic_table(value_fn: ValueFn, observe: Callable[[np.ndarray, np.ndarray], jax.Array],
                 tables: Tables) -> np.ndarray:
    """The approval of ``value_fn`` as a [T, S, A] table, for environments with tables.

    ``observe(t, s)`` gives the observations of table states ``s`` at times ``t``."""
    max_steps, num_states = tables.max_steps, tables.num_states
    states = np.arange(num_states)
    values = np.zeros((max_steps + 1, num_states), np.float32)
    for t in range(max_steps - 1):  # V(T-1) = V(T) = 0
        obs = observe(np.full(num_states, t, np.int32), states)
        values[t] = np.asarray(value_fn(obs), np.float32)
    values[:, tables.ended] = 0.0
    after = tables.expect(values[1:])  # [T, S, A]: V(t+1, s')
    table = tables.reward_table("observed")[None] + after - values[:max_steps, :, None]
    table[max_steps - 1] = 0.0
    return table.astype(np.float32)


class CriticApproval(Approval):
    """``trusted-critic`` for a run's seeds: the overseer's critic in the paper's formula."""

    kind = "trusted-critic"
    measured = True

    def __init__(self, ctx: BuildContext, settings: OverseerSettings) -> None:
        if ctx.overseer is None:
            raise ValueError("approval 'trusted-critic' needs a trainer that trains overseers")
        self.overseer = ctx.overseer(settings.overseer_steps, settings.overseer_start_time)
        self.max_steps = ctx.env.max_steps(ctx.settings)
        self.ctx = ctx
        self.seeds = ctx.seeds

    @property
    def program_key(self) -> tuple:
        return ("trusted-critic",)

    def arguments(self) -> tuple[Any, Any]:
        return self.overseer.critic, 0

    def reward(self, args: Any, state: Any, step: Step) -> tuple[Any, dict[str, Any]]:
        value_fn = lambda obs: self.overseer.value(args, obs)  # noqa: E731
        reward = critic_approval(value_fn, step.obs, step.t, jnp.zeros_like(step.done),
                                 step.next_obs, step.terminated, step.observed, self.max_steps)
        return reward, {}

    def table_of(self, index: int) -> np.ndarray:
        """Seed ``index``'s approval as a [T, S, A] table (environments with tables)."""
        ctx = self.ctx
        critic = jax.tree_util.tree_map(lambda x: x[index], self.overseer.critic)
        value_fn = jax.jit(lambda o: self.overseer.value(critic, o))
        return critic_table(value_fn, lambda t, s: observations(ctx.tables, ctx.env.observe,
                                                                ctx.params, t, s), ctx.tables)

    def quality(self, index: int, policy: np.ndarray) -> dict[str, float] | None:
        tables = self.ctx.tables
        if tables is None or tables.num_states > QUALITY_MAX_STATES:
            return None
        from monarl.approval.quality import approval_quality
        from monarl.approval.trusted import trusted_approval, trusted_values

        exact = trusted_approval(tables, 0.0, self.seeds[index], "state",
                                 values=trusted_values(tables))
        return approval_quality(tables, self.table_of(index), exact, policy)

    def info(self) -> dict[str, Any]:
        return {"overseer": self.overseer.summary}


def family(settings: OverseerSettings) -> Family:
    if settings.overseer_start_time == "uniform":  # its overseer's episodes start at drawn times
        return Family("trusted-critic-uniform", "overseer_steps", "overseer PPO steps",
                      "#9e9d24")
    return Family("trusted-critic", "overseer_steps", "overseer PPO steps", "#558b2f")


SPEC = ApprovalSpec(
    name="trusted-critic",
    summary="The trusted advantage with V the critic of an overseer trained by PPO on the true "
            "reward (--overseer-steps); no tables needed.",
    settings=OverseerSettings,
    build=lambda ctx, settings: CriticApproval(ctx, settings),
    needs=lambda settings: needs("trusted-critic", "trusted"),
    family=family,
)
