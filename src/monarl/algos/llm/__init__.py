"""The language-model trainer (``grpo``): multi-turn GRPO with PPO clipping, where each turn's
tokens get that turn's advantage from ``monarl.core.horizon`` (docs/llm.md).

- ``config.py``: :class:`GRPOConfig`, every hyperparameter;
- ``models.py``: models by name or path (``tiny``, ``smollm2-135m``, a folder, a cached hub
  name), resolved without loading so bad input fails first; ``char_tokenizer.py`` and
  ``pretrain.py``: the built-in tiny model;
- ``sampling.py``: batched generation with a seeded ``torch.Generator``, log-probabilities;
- ``loss.py``: the PPO-clip loss with a KL estimate; ``train.py``: the loop;
- ``checkpoint.py``: checkpoints and resuming; ``runner.py``: the experiment system's runner.

torch and transformers are the ``[llm]`` extra: nothing here is imported by the core install
until a language-model run starts (this module itself imports neither).
"""

from __future__ import annotations

from monarl.algos.llm.config import GRPOConfig
from monarl.core.config import ConfigError
from monarl.core.protocols import TrainerSpec


def _check(run, prefix: str) -> None:
    """Refuse a bad model, horizon or reply budget before any model loads."""
    from monarl.algos.llm.models import resolve_model

    section = f"{prefix}.grpo" if prefix else "grpo"
    resolve_model(run.settings.model, f"{section}.model")
    text = run.env.spec.text
    if text is None:
        return
    budget = run.settings.max_new_tokens
    if budget is not None and len(budget) != text.turns:
        raise ConfigError(f"{section}.max_new_tokens={list(budget)!r} is invalid: give one "
                          f"budget per turn ({text.turns} turns: {', '.join(text.turn_names)})")


def _headline(env) -> tuple[str, ...]:
    return env.text.headline if env.text is not None else ()


SPEC = TrainerSpec(
    name="grpo",
    summary="Language models: multi-turn GRPO with PPO clipping; each turn's tokens get that "
            "turn's advantage (horizon M over turns; docs/llm.md).",
    section="grpo",
    settings=GRPOConfig,
    runner="monarl.algos.llm.runner:run",
    requires=frozenset({"text"}),
    default_env="loan-text",
    # Seeds run one after another (a model each), so a batch saves nothing; one task per run
    # lets a sweep's workers take different seeds at once. With seeds batched, two variants'
    # tasks both started at seed 0 and one worker idled on the other's pretraining of that
    # seed's tiny model (a lock), seed after seed.
    batch_fields=(),
    default_seeds=1,  # seeds run one after another; --seeds N for an interval over seeds
    semantics=2,  # 2: loan-text's applications name a city, tiny decides as past officers did
                  # and pretrains 1500 steps there (the same defaults compute something new)
    steps=lambda run: run.settings.total_steps,
    check=_check,
    metrics_note=(
        "Language-model metrics (greedy decoding on held-out cases, no inoculation prompt): "
        "the environment's own, defined in its documentation (loan-text: docs/loan_text.md, "
        "leakage, monitor flag rate, flip rate, accuracies; tdd: docs/tdd.md, held-out pass, "
        "own-test pass, soft- and valid-test rates), and training diagnostics (train_* "
        "rewards, KL to the reference, clip fraction; for MONA advantage_gap, 0 on an update "
        "whose advantages were exactly ordinary RL's)."
    ),
    headline=_headline,
    interval="bootstrap",
)

__all__ = ["GRPOConfig", "SPEC"]
