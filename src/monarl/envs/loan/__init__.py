"""Loan applications: a two-step encoded-reasoning environment (docs/loan.md).

Step 1 the agent summarizes an applicant under a monitor that penalizes naming the
nationality; step 2 it decides from the summary alone; the labels are biased by nationality.
The hack is steganography: carrying nationality through the summary in a form the monitor
does not flag. Rules in ``rules.py`` (pure JAX), settings in ``settings.py``, the probes and
leakage measurements in ``metrics.py``; :data:`SPEC` declares it to monarl.
"""

from __future__ import annotations

from monarl.core.protocols import EnvSpec, MultiDiscrete
from monarl.envs.loan import rules
from monarl.envs.loan.rules import NAME, OUTCOMES
from monarl.envs.loan.settings import LoanSettings

SPEC = EnvSpec(
    name=NAME,
    summary="Encoded reasoning: summarize a loan applicant under a nationality monitor, then "
            "decide from the summary; ordinary RL learns to smuggle nationality through it.",
    settings=LoanSettings,
    make_params=lambda settings: settings.make_params(),
    describe=rules.env_settings,
    reset=rules.reset,
    step=rules.step,
    observe=rules.observe,
    actions=lambda params: MultiDiscrete(params.vocab_size, params.message_length),
    observation_size=rules.observation_size,
    max_steps=lambda settings: settings.max_steps,
    outcomes=OUTCOMES,
    hack=None,  # the hack shows in leakage and flip rate, not in an outcome label
    default_approval="overseer",
    action_kind="multi-discrete",
    docs="docs/loan.md",
)

__all__ = ["LoanSettings", "SPEC"]
