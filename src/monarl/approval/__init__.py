"""Overseers: every approval is a [T, S, A] table for tabular environments.

``build_approval(tables, config, seed)`` is the one entry point the exact solver and PPO use.
Each family lives in its own module:

- ``trusted``: advantage under the true reward's optimal value (reference.md section 3), noisy;
- ``misspecified``: the same with the value of a reward mixing in the observed one;
- ``learned``: a small model fit to N overseer labels (an oversight budget);
- ``evaluator_rl``: the trusted value after k observed-reward backups (generalized MONA);
- ``continuation``: the observed return of a frozen trusted policy continuing the episode;
- ``leak``: mixes in the realized future return -- a negative control, never a method;
- ``trusted_critic``: the trusted advantage with the overseer's value *learned* by PPO on the
  true reward -- a function, not a table, so the one MONA approval for boards beyond the
  tables (PPO only; built inside ``monarl.algos.ppo``).

An approval is MONA's whole training reward for a step: every family's table already contains the
step's observed reward (the trusted one is ``R_obs(s') + V(t+1, s') - V(t, s)``, reference.md
section 3), exactly as the public code trains on it; the observed reward is never added on top.
``none`` returns None: the training reward is the observed reward alone.
"""

from __future__ import annotations

import numpy as np

from monarl.approval import continuation, evaluator_rl, leak, learned, misspecified, trusted
from monarl.core.config import ApprovalConfig, ConfigError
from monarl.envs.camera_dropbox.tables import TabularEnv


def _noisy_advantage(tables: TabularEnv, values: np.ndarray, config: ApprovalConfig,
                     seed: int) -> np.ndarray:
    """Advantage approval of ``values`` with the config's noise (per state on V, or per step)."""
    return trusted.trusted_approval(tables, config.noise, seed, config.noise_per, values=values)


def build_approval(tables: TabularEnv, config: ApprovalConfig, seed: int = 0,
                   trusted_values: np.ndarray | None = None) -> np.ndarray | None:
    """The [T, S, A] approval table of ``config`` (None for ``kind='none'``).

    ``evaluator-rl`` with ``evaluator_lr`` set is PPO's trained evaluator critic, which has no
    fixed table (``monarl.algos.ppo`` builds it from the trusted table); it is rejected here.
    """
    config.validate()
    if config.ppo_only:
        raise ConfigError(f"approval {config.kind!r} is invalid here: {config.ppo_only}")
    kind = config.kind
    if kind == "none":
        return None
    base = trusted.trusted_values(tables) if trusted_values is None else trusted_values
    if kind == "trusted":
        return _noisy_advantage(tables, base, config, seed)
    if kind == "misspecified":
        return _noisy_advantage(tables, misspecified.misspecified_values(tables, config.misspec),
                                config, seed)
    if kind == "evaluator-rl":
        values = evaluator_rl.evaluator_values(tables, base, config.evaluator_steps)
        return _noisy_advantage(tables, values, config, seed)
    if kind == "leak":
        return leak.leak_approval(tables, _noisy_advantage(tables, base, config, seed),
                                  config.leak)
    if kind == "continuation":
        return continuation.continuation_approval(tables)
    if kind == "learned":
        exact = _noisy_advantage(tables, base, config, seed)
        return learned.fit_learned_approval(
            tables, exact, seed=seed,
            config=learned.LearnedApprovalConfig(labels=config.labels,
                                                 label_kind=config.label_kind))
    raise AssertionError(f"unhandled approval kind {kind!r}")  # validate() lists the kinds
