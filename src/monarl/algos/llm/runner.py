"""The language-model trainer's batch runner for the experiment system: the seeds of one
condition trained one after another (a model per seed), each resuming from its checkpoint
when a killed run left one, each yielded as soon as it is done."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monarl.algos.llm import checkpoint as ckpt


def checkpoint_folder(ctx: Any, run: Any) -> Path:
    """Where ``run`` keeps its checkpoint: inside its run folder in a store, else under
    ``$MONARL_CHECKPOINTS`` (default ``monarl-results/checkpoints``), by run id, so rerunning
    the same command resumes."""
    run_dir = getattr(ctx, "run_dir", None)
    if run_dir is not None:
        folder = run_dir(run)
        if folder is not None:
            return Path(folder) / "checkpoint"
    root = Path(os.environ.get("MONARL_CHECKPOINTS", "monarl-results/checkpoints"))
    return root / run.run_id


def run(runs: list[Any], ctx: Any) -> Iterator[tuple[Any, dict, dict]]:
    from monarl.algos.llm.models import resolve_model
    from monarl.algos.llm.train import Trainer
    from monarl.approval import build as build_approval
    from monarl.approval.base import BuildContext

    for one in runs:
        env = one.env.spec
        settings, params = one.env.settings, one.env.params()
        if env.text.for_model is not None:  # a default that depends on the model (tdd: auto)
            tiny = resolve_model(one.settings.model, "grpo.model").kind == "tiny"
            resolved = env.text.for_model(settings, tiny)
            if resolved != settings:
                settings, params = resolved, env.make_params(resolved)
        approval = build_approval(one.approval, BuildContext(
            env=env, settings=settings, params=params, tables=None, seeds=[one.seed]))
        folder = checkpoint_folder(ctx, one) if one.settings.checkpoint_every else None
        trainer = Trainer(env, params, approval, one.horizon, one.settings, one.seed,
                          checkpoint_dir=folder,
                          log=lambda line, r=one: ctx.log(r, line),
                          progress=lambda update, speed, r=one: ctx.progress(
                              [r], update, unit="updates/seed", rate=f"{speed:,.0f} tok/s"))
        try:
            result = trainer.run()
        finally:
            if approval is not None and hasattr(approval, "close"):
                approval.close()
        info = {"steps": one.settings.total_steps, "updates": one.settings.total_steps,
                "settings": env.describe(params),
                "model": trainer.source.name, "parameters": result["parameters"],
                "pretrain_steps": trainer.pretrain_steps if trainer.tiny else 0,
                "generation_tokens_per_second": result["generation_tokens_per_second"],
                "training_tokens_per_second": result["training_tokens_per_second"],
                "batch": {"runs": 1, "wall_seconds": result["wall_seconds"],
                          "env_steps_per_second": one.settings.total_steps
                          / max(result["wall_seconds"], 1e-9)}}
        if result.get("updates_like_ordinary") is not None:  # MONA runs (Trainer.run)
            info["updates_like_ordinary"] = result["updates_like_ordinary"]
        if result.get("resumed_from") is not None:  # a killed run continued from its checkpoint
            info["resumed_from"] = result["resumed_from"]
        yield one, result["final"], info
        if folder is not None:
            ckpt.remove(folder)
