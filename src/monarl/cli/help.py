"""Help texts that list what the registries hold (names only: no component is imported to
build them, so ``--help`` stays quick); ``monarl envs`` and ``monarl approvals`` describe each."""

from __future__ import annotations

from monarl.algos import TRAINERS
from monarl.approval import APPROVALS
from monarl.envs import ENVS


def _names(registry) -> str:
    return ", ".join(registry.names())


ENV_HELP = (f"Environment: {_names(ENVS)}, or your own as package.module:ATTR (`monarl envs` "
            "lists each with its settings).")
APPROVAL_HELP = (
    f"Overseer: {_names(APPROVALS)}, or your own as package.module:ATTR. none: observed reward "
    "only. trusted: advantage under the true reward's optimal value (the paper's). "
    "misspecified: same, value of (1-m) true + m observed reward. learned: a model fit to "
    "--labels overseer labels. evaluator-rl: trusted value after --evaluator-steps "
    "observed-reward backups (generalized MONA). continuation: observed return of a frozen "
    "trusted policy continuing from the next state. leak: mixes in the realized future return "
    "with weight --leak (a NEGATIVE CONTROL). trusted-critic (monarl train only): trusted "
    "advantage with the value learned by the overseer's own PPO run on the true reward "
    "(--overseer-steps); continuation-rollout (monarl train only): R_obs(s') + the observed "
    "return of that overseer's greedy policy run on from s'. Both need no tables, so they run "
    "on any board. overseer: the loan task's fact-checking overseer. `monarl approvals` lists "
    "every kind with its settings.")
TRAINER_HELP = (f"Trainer: {_names(TRAINERS)} (default: the environment's, PPO for Camera "
                "Dropbox, loan-pg for the loan task).")
