"""Trainers: the registry and the built-ins.

- ``exact``: value iteration with horizon M on environments with tables (``monarl solve``);
- ``ppo``: PPO in JAX on any environment, with MONA's horizon and any approval (``monarl
  train``);
- ``loan-pg``: the policy-gradient trainer of the loan task (``monarl train
  loan-steganography``);
- ``grpo``: multi-turn GRPO for language models on text environments (``monarl train
  loan-text``).

``TRAINERS.get(name)`` returns a :class:`~monarl.core.protocols.TrainerSpec`; a name may also be
a ``package.module:ATTR`` reference, and installed packages may register through the
entry-point group ``monarl.trainers``.
"""

from __future__ import annotations

from monarl.core.protocols import TrainerSpec
from monarl.core.registry import Registry

TRAINERS: Registry[TrainerSpec] = Registry("trainer", "monarl.trainers", TrainerSpec, "algo")
TRAINERS.register_builtin("exact", "monarl.algos.exact:SPEC")
TRAINERS.register_builtin("ppo", "monarl.algos.ppo:SPEC")
TRAINERS.register_builtin("loan-pg", "monarl.algos.loan_pg:SPEC")
TRAINERS.register_builtin("grpo", "monarl.algos.llm:SPEC")

__all__ = ["TRAINERS"]
