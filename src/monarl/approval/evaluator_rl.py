"""Generalized MONA: the evaluator that approves is itself given k steps of RL on the observed
reward.

The evaluator's value starts at the trusted value V_trusted (optimal for the true reward) and
receives k Bellman optimality backups with the *observed* reward:

    V^{j+1}(t, s) = max_a [ R_obs(s, a) + V^j(t+1, P[s, a]) ],   V^j(T, .) = 0.

k = 0 is pure MONA's trusted overseer. Because the problem has a finite horizon T, after k >= T
backups every entry is the observed reward's optimal value, and MONA with M = 1 and this
approval behaves as ordinary RL (a test checks it). The approval is the evaluator's advantage,
as for the trusted overseer. In between, k is the dial the debate is about: how much outcome
optimization the overseer may absorb before it rubber-stamps the hack.

With ``evaluator_lr`` set, the evaluator is instead a value table trained *inside* a trainer's
loop (PPO's evaluator critic, docs/approvals.md): it starts at the trusted value and, during the
first k updates, moves every visited (t, s) toward the mean observed return-to-go that followed
it in the rollout with step size ``evaluator_lr``; the approval of a step is the trusted one plus
the correction ``D(t+1, s') - D(t, s)``, D = V_e - V_0 (0 at the last step).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.approval.base import BuildContext, Step
from monarl.approval.table import TableApproval
from monarl.approval.trusted import (
    TABLES,
    NoiseSettings,
    noisy_advantage,
    noisy_values,
    trusted_values,
)
from monarl.core.config import fail, is_int, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family, Need
from monarl.tabular.tables import Tables


@dataclasses.dataclass(frozen=True)
class EvaluatorSettings(NoiseSettings):
    evaluator_steps: int = setting(
        0, "k: observed-reward Bellman backups given to the evaluator (0 = trusted MONA); with "
           "evaluator_lr, the PPO updates during which it learns.")
    evaluator_lr: float | None = setting(
        None, "PPO only: train the evaluator inside PPO instead of giving it exact backups, "
              "moving its value toward the rollouts' observed returns with this step size in "
              "[0, 1] during the first k updates (unset: k exact backups).")

    def validate(self, section: str = "approval") -> None:
        super().validate(section)
        if not is_int(self.evaluator_steps) or self.evaluator_steps < 0:
            raise fail(section, "evaluator_steps", self.evaluator_steps,
                       "must be an integer >= 0")
        if self.evaluator_lr is not None and (not is_number(self.evaluator_lr)
                                              or not 0 <= self.evaluator_lr <= 1):
            raise fail(section, "evaluator_lr", self.evaluator_lr,
                       "the evaluator critic's step size must be a number in [0, 1] (PPO "
                       "only; leave it unset for k exact Bellman backups)")

    @property
    def critic(self) -> bool:
        """True for the evaluator critic trained inside PPO (``evaluator_lr`` set)."""
        return self.evaluator_lr is not None


def evaluator_values(tables: Tables, start_values: np.ndarray, steps: int) -> np.ndarray:
    """k = ``steps`` synchronous observed-reward backups of ``start_values`` [T+1, S]."""
    if not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"evaluator_steps={steps!r} is invalid: must be an integer >= 0")
    values = np.array(start_values, np.float64, copy=True)
    reward = tables.reward_table("observed")
    horizon = values.shape[0] - 1
    for _ in range(min(int(steps), horizon + 1)):
        backed = values.copy()
        backed[:-1] = (reward[None] + tables.expect(values[1:])).max(axis=-1)
        backed[-1] = 0.0
        if np.array_equal(backed, values):
            break
        values = backed
    return values


class EvaluatorCritic(TableApproval):
    """The evaluator critic (see the module docstring): the trusted table, plus a correction
    D = V_e - V_0 learned during training and carried as the approval's state."""

    def __init__(self, ctx: BuildContext, settings: EvaluatorSettings) -> None:
        tables = ctx.require_tables("evaluator-rl")
        values = trusted_values(tables)
        super().__init__("evaluator-rl", ctx.env, tables, ctx.seeds,
                         lambda seed: noisy_advantage(tables, values, settings, seed),
                         settings.seed_dependent)
        self.settings = settings
        if settings.noise > 0 and settings.noise_per == "state":
            self.start_values = np.stack([noisy_values(values, settings.noise, s)
                                          for s in ctx.seeds]).astype(np.float32)
        else:
            self.start_values = values.astype(np.float32)

    @property
    def program_key(self) -> tuple:
        return ("evaluator-critic", self.tables.deterministic)

    def arguments(self) -> tuple[Any, Any]:
        (table, index), (table_axis, _) = super().arguments()
        successor = jnp.asarray(self.tables.successor if self.tables.deterministic
                                else np.zeros((1, 1), np.int32), jnp.int32)
        args = (table, index, successor, jnp.asarray(self.start_values),
                jnp.asarray(self.settings.evaluator_lr, jnp.float32),
                jnp.asarray(self.settings.evaluator_steps, jnp.int32))
        axes = (table_axis, None, None, 0 if self.start_values.ndim == 3 else None, None, None)
        return args, axes

    def init(self, args: Any) -> Any:
        return jnp.zeros_like(args[3], jnp.float32)  # D = 0: the evaluator starts trusted

    def _index(self, state: Any, index: Any) -> Any:
        return jax.vmap(lambda s: self.env.tables.index(s, index))(state)

    def reward(self, args: Any, state: Any, step: Step) -> tuple[Any, dict[str, Any]]:
        table, index, successor, _, _, _ = args
        steps_limit = table.shape[0]
        s = self._index(step.state, index)
        t = jnp.clip(step.state.t, 0, steps_limit - 1)
        if self.tables.deterministic:
            s_next = successor[s, step.action]
        else:
            s_next = self._index(step.next_state, index)
        correction = jnp.where(t == steps_limit - 1, 0.0, state[t + 1, s_next] - state[t, s])
        extras = {"t_idx": t, "s_idx": s, "observed": step.observed}
        return table[t, s, step.action] + correction, extras

    def finish(self, args: Any, state: Any, rewards: Any, extras: dict[str, Any], done: Any,
               last_state: Any, update: Any, key: Any) -> tuple[Any, Any]:
        """One evaluator-critic step: visited (t, s) move toward their observed returns."""
        _, index, _, start, lr, learn_steps = args
        steps_limit, num_states = start.shape[-2] - 1, start.shape[-1]
        values = start + state  # V_e [T+1, S]
        s_last = self._index(last_state, index)
        bootstrap = values[jnp.clip(last_state.t, 0, steps_limit), s_last]

        def back(after, x):
            reward, end = x
            ret = reward + (1.0 - end) * after
            return ret, ret

        _, returns = jax.lax.scan(back, bootstrap,
                                  (extras["observed"], done.astype(jnp.float32)), reverse=True)
        t_idx, s_idx = extras["t_idx"], extras["s_idx"]
        flat = (t_idx * num_states + s_idx).reshape(-1)
        error = (returns - values[t_idx, s_idx]).reshape(-1)
        segments = (steps_limit + 1) * num_states
        sums = jax.ops.segment_sum(error, flat, num_segments=segments)
        counts = jax.ops.segment_sum(jnp.ones_like(error), flat, num_segments=segments)
        rate = lr * (update < learn_steps).astype(jnp.float32)
        step = rate * sums / jnp.maximum(counts, 1.0)
        return rewards, state + step.reshape(steps_limit + 1, num_states)


def build(ctx: BuildContext, settings: EvaluatorSettings) -> TableApproval:
    if settings.critic:
        return EvaluatorCritic(ctx, settings)
    tables = ctx.require_tables("evaluator-rl")
    values = evaluator_values(tables, trusted_values(tables), settings.evaluator_steps)
    return TableApproval("evaluator-rl", ctx.env, tables, ctx.seeds,
                         lambda seed: noisy_advantage(tables, values, settings, seed),
                         settings.seed_dependent)


def needs(settings: EvaluatorSettings) -> dict[str, Need]:
    if not settings.critic:
        return TABLES
    return {**TABLES, "training": Need(
        "evaluator_lr", "the trained evaluator critic exists only in PPO; the exact solver's "
        "evaluator gets evaluator_steps exact Bellman backups (leave evaluator_lr unset)")}


def family(settings: EvaluatorSettings) -> Family:
    if settings.critic:  # PPO's trained evaluator: k counts updates, not exact backups
        return Family("evaluator-critic", "evaluator_steps", "evaluator critic updates k (PPO)",
                      "#8e24aa", log_above=8)
    return Family("evaluator-rl", "evaluator_steps", "evaluator RL steps k", "#6a1b9a",
                  log_above=8)


SPEC = ApprovalSpec(
    name="evaluator-rl",
    summary="Generalized MONA: the trusted value after k observed-reward backups "
            "(--evaluator-steps); with --evaluator-lr, an evaluator trained inside PPO.",
    settings=EvaluatorSettings,
    build=build,
    needs=needs,
    family=family,
    seed_dependent=lambda settings: settings.seed_dependent,
)
