"""Frozen-policy continuation ("incremental steering").

The approval of a step is the observed reward of the step plus the observed return that a
*frozen trusted policy* collects when it continues from the next state:

    approval(t, s, a) = R_obs(s') + G_obs^{pi_trusted}(t+1, s').

The frozen policy is the optimal policy of the true reward (exact, first-action tie-breaking),
so it never sets up the hack; the overseer only needs to *run* it, not to judge outcomes. For
tabular environments the continuation return is computed exactly by following the policy (in
expectation over the successors, for stochastic transitions).

``continuation-rollout`` (``continuation_rollout.py``) is the same approval without tables: the
frozen policy is a learned overseer's, run inside the trainer from every state entered.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.table import TableApproval
from monarl.approval.trusted import TABLES
from monarl.core.protocols import ApprovalSpec, Family
from monarl.tabular.tables import Tables


@dataclasses.dataclass(frozen=True)
class ContinuationSettings:
    """No settings: the frozen policy is the exact optimum of the true reward."""


def trusted_policy(tables: Tables) -> np.ndarray:
    """[T, S] greedy policy of the true reward (lowest-index tie-breaking, deterministic)."""
    from monarl.tabular.value_iteration import solve

    def build() -> np.ndarray:
        reward = np.broadcast_to(tables.reward_table("true"),
                                 (tables.max_steps,) + (tables.num_states, tables.num_actions))
        return solve(tables, reward, None, tie_break="first")[0]

    return tables.cached("trusted_policy", build)


def continuation_returns(tables: Tables, policy: np.ndarray,
                         reward: str = "observed") -> np.ndarray:
    """G[t, s]: return of ``reward`` collected by ``policy`` from (t, s) to the end; G[T] = 0."""
    steps = policy.shape[0]
    per_step = tables.reward_table(reward)
    returns = np.zeros((steps + 1, tables.num_states))
    states = np.arange(tables.num_states)
    for t in range(steps - 1, -1, -1):
        if tables.deterministic:
            nxt = tables.successor[states, policy[t]]
            returns[t] = per_step[states, policy[t]] + returns[t + 1][nxt]
        else:
            after = (returns[t + 1][tables.next_state] * tables.probability).sum(-1)
            returns[t] = per_step[states, policy[t]] + after[states, policy[t]]
    return returns


def continuation_approval(tables: Tables, policy: np.ndarray | None = None) -> np.ndarray:
    """[T, S, A] approval: R_obs(s') + observed continuation return of the frozen policy
    (``policy`` [T, S]; default the true reward's optimal one, :func:`trusted_policy`)."""
    policy = trusted_policy(tables) if policy is None else policy
    returns = continuation_returns(tables, policy)
    after = tables.expect(returns[1:])  # [T, S, A]
    return tables.reward_table("observed")[None] + after


def build(ctx: BuildContext, settings: ContinuationSettings) -> TableApproval:
    tables = ctx.require_tables("continuation")
    return TableApproval("continuation", ctx.env, tables, ctx.seeds,
                         lambda seed: continuation_approval(tables), False)


SPEC = ApprovalSpec(
    name="continuation",
    summary="Frozen-policy continuation: R_obs(s') + the observed return of the true reward's "
            "optimal policy continuing from s'.",
    settings=ContinuationSettings,
    build=build,
    needs=lambda settings: TABLES,
    family=lambda settings: Family("continuation", None, "continuation", "#00838f"),
)
