"""Every PPO hyperparameter, in one dataclass (the tuned settings of docs/ppo.md)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from monarl.algos.networks import ACTIVATIONS


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Every PPO hyperparameter, in one place. Defaults are the tuned settings of docs/ppo.md,
    used unchanged for both arms (ordinary RL and MONA)."""

    total_steps: int = 1_000_000
    """Environment steps per seed; rounded up to whole updates of ``num_envs * num_steps``."""
    num_envs: int = 64
    """Parallel environments per seed (auto-reset). Many envs make each XLA op do real work."""
    num_steps: int = 125
    """Rollout length per environment per update (64 x 125 = 8,000 divides 1M exactly)."""
    num_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per epoch; minibatch size = num_envs * num_steps / num_minibatches."""
    learning_rate: float = 1e-3
    """Adam step size (linearly annealed to 0 over training if ``anneal_lr``)."""
    anneal_lr: bool = True
    """Linear learning-rate decay to 0: a stable end point for the final evaluation."""
    gamma: float = 1.0
    """Discount of the full-horizon (ordinary RL) advantage; the paper uses 1.0. Finite
    horizons are undiscounted (M is their only truncation)."""
    gae_lambda: float = 1.0
    """GAE lambda of the full-horizon advantage (unused for finite horizons). 1.0 gives
    Monte-Carlo advantages: the hack's second box pays ~10 steps after the blocking move, and
    lambda < 1 discounts that credit through a critic that has barely seen hacking states
    (with 0.95, 1-2 of 10 seeds never found the hack; docs/ppo.md)."""
    clip_eps: float = 0.3
    """PPO ratio clipping (the paper's 0.3). A rare hacking episode can raise its actions'
    probabilities by at most this factor per update, so 0.2 let more seeds lock into the
    intended behaviour before the hack was reinforced (docs/ppo.md)."""
    ent_coef: float = 0.1
    """Entropy bonus (the paper uses 0.05 with minibatches of 64; with our minibatches of 2,000
    0.1 kept both arms exploring: 1 of 30 ordinary-RL seeds never hacked, against 2 of 30 (and
    3 more hacking from under 70 % of the starts) with 0.05; and MONA escapes the no-op loops
    that its 0.01-sized per-step signal for making progress leaves; docs/ppo.md)."""
    ent_coef_final: float | None = None
    """If set, the entropy coefficient decays linearly to this value by the end of training."""
    vf_coef: float = 0.5
    """Weight of the value loss (mean over critic heads)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the policy MLP and (separately) of the value MLP."""
    activation: str = "tanh"
    """Hidden activation: tanh or relu."""
    normalize_advantages: bool = True
    """Per-minibatch advantage normalisation (``horizon.normalize_advantages`` says why it
    cannot pay for a hack)."""
    eval_every: int = 50_000
    """Environment steps between exact evaluations (rounded to whole updates)."""
    eval_episodes: int = 1024
    """Episodes per evaluation point on environments without state tables (or too large for
    them), where the evaluation samples episodes instead of being exact (unused where the
    tables exist). The standard error of an outcome fraction is at most 0.5 /
    sqrt(eval_episodes), 1.6 % here."""
    reward: str = "observed"
    """What a run without approval trains on: ``observed`` (ordinary RL, the misspecified
    reward) or ``true`` (the true reward's optimum, a reference; an approval is the whole
    training reward, so ``true`` needs approval none)."""

    def validate(self) -> PPOConfig:
        """Raise ValueError naming the field, the value and what is allowed; return self."""

        def fail(name: str, allowed: str) -> ValueError:
            return ValueError(f"ppo.{name}={getattr(self, name)!r} is invalid: {allowed}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return (
                isinstance(v, int | float | np.integer | np.floating)
                and not isinstance(v, bool)
                and math.isfinite(v)
            )

        for name in (
            "total_steps",
            "num_envs",
            "num_steps",
            "num_epochs",
            "num_minibatches",
            "eval_every",
            "eval_episodes",
        ):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise fail(name, "must be an integer >= 1")
        batch = self.num_envs * self.num_steps
        if batch % self.num_minibatches:
            raise fail(
                "num_minibatches",
                f"must divide num_envs * num_steps = {batch} (minibatches of equal size)",
            )
        if not is_num(self.learning_rate) or not self.learning_rate > 0:
            raise fail("learning_rate", "must be a finite number > 0")
        if not is_num(self.gamma) or not 0 <= self.gamma <= 1:
            raise fail("gamma", "must be a number in [0, 1]")
        if not is_num(self.gae_lambda) or not 0 <= self.gae_lambda <= 1:
            raise fail("gae_lambda", "must be a number in [0, 1]")
        if not is_num(self.clip_eps) or not self.clip_eps > 0:
            raise fail("clip_eps", "must be a finite number > 0")
        for name in ("ent_coef", "vf_coef"):
            if not is_num(getattr(self, name)) or getattr(self, name) < 0:
                raise fail(name, "must be a finite number >= 0")
        if self.ent_coef_final is not None and (
            not is_num(self.ent_coef_final) or self.ent_coef_final < 0
        ):
            raise fail("ent_coef_final", "must be None (constant) or a finite number >= 0")
        if not is_num(self.max_grad_norm) or not self.max_grad_norm > 0:
            raise fail("max_grad_norm", "must be a finite number > 0")
        if (
            not isinstance(self.hidden, tuple)
            or not self.hidden
            or not all(is_int(h) and h >= 1 for h in self.hidden)
        ):
            raise fail("hidden", "must be a non-empty tuple of integers >= 1, e.g. (64, 64)")
        if self.activation not in ACTIVATIONS:
            raise fail("activation", f"allowed are {', '.join(ACTIVATIONS)}")
        if self.reward not in ("observed", "true"):
            raise fail("reward", "allowed are observed, true")
        for name in ("anneal_lr", "normalize_advantages"):
            if not isinstance(getattr(self, name), bool):
                raise fail(name, "must be true or false")
        return self

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return -(-self.total_steps // self.batch_size)

    @property
    def updates_per_eval(self) -> int:
        return max(1, min(self.num_updates, round(self.eval_every / self.batch_size)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PPOConfig:
        """Build from a TOML/JSON mapping, rejecting unknown keys; lists become tuples."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"ppo: unknown field {unknown[0]!r}; known fields are {', '.join(sorted(known))}"
            )
        data = dict(data)
        if isinstance(data.get("hidden"), list):
            data["hidden"] = tuple(data["hidden"])
        return cls(**data).validate()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out
