"""PPO in JAX for MONA and ordinary RL, on any environment with discrete actions.

- ``config.py``: :class:`PPOConfig`, every hyperparameter (the tuned settings of docs/ppo.md);
- ``train.py``: ``make_train(config, env, approval, horizon) -> train(key)``, one jitted scan;
- ``evaluation.py``: exact evaluation through the tables, sampled evaluation elsewhere;
- ``run.py``: :func:`train_seeds` / :func:`run_ppo` (the JSON of ``monarl train``), overseers,
  the warm start;
- ``runner.py``: the batch runner of the experiment system.
"""

from __future__ import annotations

from monarl.algos.ppo.config import PPOConfig
from monarl.algos.ppo.evaluation import (
    EvalArrays,
    Sampler,
    eval_arrays,
    evaluate_actor,
    exact_evaluation,
    policy_table,
    reachable_pairs,
    sample_actor,
    sampled_evaluation,
)
from monarl.algos.ppo.run import (
    approval_config,
    ci95,
    metrics_of,
    run_ppo,
    run_warm_start,
    run_warm_start_file,
    summarize,
    train_overseer,
    train_seeds,
)
from monarl.algos.ppo.train import (
    AUTO,
    Params,
    Runner,
    Transition,
    eval_arrays_of,
    init_params,
    make_train,
    ppo_loss,
)
from monarl.core.config import ConfigError, check_reward
from monarl.core.protocols import TrainerSpec


def _steps(run) -> int | None:
    return getattr(run.settings, "total_steps", None)


def _check(run, prefix: str) -> None:
    try:
        check_reward(run.settings.reward, run.approval.kind)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}.ppo.{exc}" if prefix else f"ppo.{exc}") from None


def _headline(env) -> tuple[str, ...]:
    return (*env.outcomes, "observed_return", "true_return", "episode_length")


SPEC = TrainerSpec(
    name="ppo",
    summary="PPO in JAX with MONA's horizon and approval (monarl train).",
    section="ppo",
    settings=PPOConfig,
    runner="monarl.algos.ppo.runner:run",
    requires=frozenset({"jax", "discrete"}),
    provides=frozenset({"overseer", "training"}),
    batch_fields=("seed",),
    steps=_steps,
    check=_check,
    semantics=2,
    headline=_headline,
)


__all__ = [
    "AUTO", "EvalArrays", "PPOConfig", "Params", "Runner", "SPEC", "Sampler", "Transition",
    "approval_config", "ci95", "eval_arrays", "eval_arrays_of", "evaluate_actor",
    "exact_evaluation", "init_params", "make_train", "metrics_of", "policy_table", "ppo_loss",
    "reachable_pairs", "run_ppo", "run_warm_start", "run_warm_start_file", "sample_actor",
    "sampled_evaluation", "summarize", "train_overseer", "train_seeds",
]
