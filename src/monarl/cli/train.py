"""``monarl train``: train one condition for several seeds, through one run spec per seed.

The options become run configs (``algo``, ``horizon``, ``seed``, ``env``, ``approval`` and the
trainer's settings), validated by the experiment system exactly as a sweep file's runs
(``experiments.spec.build_run``); the runs then train through their trainer's batch runner,
in this process behind a progress bar, or, with ``--store``, through the store (crash-safe,
resumable, visible to ``monarl report``). The JSON is the same either way
(``experiments.running.train_json``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from monarl.cli.common import (
    BlockersOpt,
    BoxesOpt,
    ColsOpt,
    EvaluatorLrOpt,
    EvaluatorStepsOpt,
    LabelKindOpt,
    LabelsOpt,
    LeakOpt,
    MaxStepsOpt,
    MisspecOpt,
    NoiseOpt,
    NoisePerOpt,
    OverseerStartOpt,
    OverseerStepsOpt,
    PenaltyOpt,
    RowsOpt,
    SetOpt,
    agree,
    agree_options,
    check_message,
    check_writable_target,
    fail,
    given,
    option_message,
    parse_sets,
    route_sets,
    silence_library_bars,
    write_json,
)
from monarl.cli.help import APPROVAL_HELP, ENV_HELP, TRAINER_HELP
from monarl.core.config import ConfigError, field_names, parse_horizon
from monarl.core.stats import bootstrap_ci


def default_trainer(env_name: str) -> str:
    """The trainer ``monarl train ENV`` uses: the first that names the environment, else the
    first (the exact solver aside) that can train it."""
    from monarl.algos import TRAINERS
    from monarl.algos.check import env_capabilities
    from monarl.envs import EnvConfig

    caps = env_capabilities(EnvConfig(env_name))
    names = [n for n in TRAINERS.names() if n != "exact"]
    for name in names:
        envs = TRAINERS.get(name).envs
        if envs is not None and env_name in envs:
            return name
    for name in names:
        trainer = TRAINERS.get(name)
        if trainer.envs is None and trainer.requires <= caps:
            return name
    return "ppo"


def build_runs(config: dict[str, Any], seeds: int, seed_offset: int) -> list[Any]:
    """One validated run spec per seed of ``config`` (a run config without its seed)."""
    from monarl.experiments.spec import build_run

    return [build_run({**config, "seed": seed}) for seed in
            range(seed_offset, seed_offset + seeds)]


def train(
    env_name: Annotated[str, typer.Argument(metavar="ENV", help=ENV_HELP)] = "camera-dropbox",
    approval: Annotated[str | None, typer.Option(
        help=APPROVAL_HELP + " Default: the environment's (none; overseer for the loan "
        "task).")] = None,
    horizon: Annotated[str, typer.Option(
        help="Optimization horizon: 1 (MONA), K, or none (full return, ordinary RL).")] = "none",
    seeds: Annotated[int | None, typer.Option(
        help="Seeds (default: the trainer's: 10 for the JAX trainers, which train them "
             "together, vmapped; 1 for a language model, whose seeds train one after "
             "another: give --seeds N for an interval over seeds).")] = None,
    steps: Annotated[int | None, typer.Option(
        help="Environment steps per seed (the trainer's total_steps; camera-dropbox default "
        "1,000,000); for language models (grpo) optimizer updates, as TRL's max_steps.")] = None,
    model: Annotated[str | None, typer.Option(
        help="Language models (grpo) only: the policy, tiny | smollm2-135m | a local model "
        "folder or .gguf file | a model in the local Hugging Face cache (default tiny).")] = None,
    inoculation: Annotated[bool, typer.Option(
        "--inoculation", help="Language models (grpo) only: train with the environment's "
        "inoculation prompt, which permits the undesired behaviour (evaluation never shows "
        "it).")] = False,
    problems: Annotated[str | None, typer.Option(
        help="Coding environments (tdd) only: the problem set, auto (the default: humaneval "
        "for a pretrained model, generated for tiny) | generated | humaneval | mbpp (from the "
        "Hugging Face hub) | the path of a JSONL file in MBPP's format (the env setting "
        "problems).")] = None,
    algo: Annotated[str | None, typer.Option("--algo", help=TRAINER_HELP)] = None,
    rows: RowsOpt = None,
    cols: ColsOpt = None,
    boxes: BoxesOpt = None,
    blockers: BlockersOpt = None,
    penalty: PenaltyOpt = None,
    max_steps: MaxStepsOpt = None,
    noise: NoiseOpt = None,
    noise_per: NoisePerOpt = None,
    misspec: MisspecOpt = None,
    labels: LabelsOpt = None,
    label_kind: LabelKindOpt = None,
    evaluator_steps: EvaluatorStepsOpt = None,
    evaluator_lr: EvaluatorLrOpt = None,
    leak: LeakOpt = None,
    overseer_steps: OverseerStepsOpt = None,
    overseer_start_time: OverseerStartOpt = None,
    set_: SetOpt = None,
    seed_offset: Annotated[int, typer.Option(help="First seed.")] = 0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results JSON here."
                                                   )] = None,
    store: Annotated[Path | None, typer.Option(
        help="Also record every seed as a run in this run store (resumable: rerun the same "
        "command); docs/experiments.md explains stores.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Train one condition for several seeds and report its outcome fractions and returns.

    Ordinary RL: --approval none --horizon none. MONA: --approval trusted --horizon 1. Every
    approval of `monarl solve` works, with the same options and the same tables (seeded with
    the training seed), e.g. --approval learned --labels 1024, --approval evaluator-rl
    --evaluator-steps 8, --approval leak --leak 0.1 (a negative control). --blockers greater
    than boxes - 1 is the hack-free control (the camera can then never be blocked).

    Boards too large for the state tables (over 3,000,000 states, e.g. --rows 7 --cols 7
    --boxes 4) train with --approval none, trusted-critic or continuation-rollout (MONA whose
    overseer first learns by PPO on the true reward, --overseer-steps) and are evaluated by
    sampled episodes instead of exactly. The loan task: `monarl train loan-steganography
    --approval overseer --horizon 1`. Language models: `monarl train loan-text --model tiny
    --approval overseer --horizon 1 --steps 150` (docs/llm.md).
    """
    from monarl.algos import TRAINERS
    from monarl.approval import APPROVALS
    from monarl.envs import ENVS

    try:
        env_spec = ENVS.get(env_name, "ENV")
        trainer = TRAINERS.get(algo or default_trainer(env_name), "--algo")
        kind = approval or env_spec.default_approval
        approval_spec = APPROVALS.get(kind, "--approval")
        horizon_value = parse_horizon(horizon, "--horizon")
    except ConfigError as exc:
        fail(str(exc))
    if seeds is None:
        seeds = trainer.default_seeds
    if seeds < 1:
        fail(f"--seeds={seeds} is invalid: must be an integer >= 1")
    if steps is not None and steps < 1:
        fail(f"--steps={steps} is invalid: must be an integer >= 1")
    if seed_offset < 0:
        fail(f"--seed-offset={seed_offset} is invalid: must be an integer >= 0")
    sets = route_sets(parse_sets(set_), {trainer.section: field_names(trainer.settings),
                                         "env": field_names(env_spec.settings),
                                         "approval": field_names(approval_spec.settings)})
    trainer_fields = dict(sets[trainer.section])
    if steps is not None:
        agree("--steps", "total_steps", steps, trainer_fields)
        trainer_fields["total_steps"] = steps
    for option, field, value in (("--model", "model", model),
                                 ("--inoculation", "inoculation", inoculation or None)):
        if value is None:
            continue
        if field not in field_names(trainer.settings):
            fail(f"{option} is invalid with algo {trainer.name!r}: it applies only to "
                 "language-model trainers (grpo, on text environments such as loan-text)")
        agree(option, field, value, trainer_fields)
        trainer_fields[field] = value
    if problems is not None:
        if "problems" not in field_names(env_spec.settings):
            fail(f"--problems is invalid with env {env_name!r}: it applies only to "
                 "environments with a problems setting (tdd)")
        agree("--problems", "env.problems", problems, sets["env"])
        sets["env"]["problems"] = problems
    env_options = given({"rows": rows, "cols": cols, "boxes": boxes, "blockers": blockers,
                         "penalty": penalty, "max_steps": max_steps})
    approval_options = given({
        "noise": noise, "noise_per": noise_per, "misspec": misspec, "labels": labels,
        "label_kind": label_kind, "evaluator_steps": evaluator_steps,
        "evaluator_lr": evaluator_lr, "leak": leak, "overseer_steps": overseer_steps,
        "overseer_start_time": overseer_start_time})
    agree_options({"env": env_options, "approval": approval_options}, sets)
    config = {
        "algo": trainer.name,
        "horizon": horizon_value,
        "env": {"name": env_name, **env_options, **sets["env"]},
        "approval": {"kind": kind, **approval_options, **sets["approval"]},
        trainer.section: trainer_fields,
    }
    try:
        runs = build_runs(config, seeds, seed_offset)
    except ConfigError as exc:
        message = check_message(exc, {"horizon": "--horizon"})
        if message.startswith(f"--set {trainer.section}."):  # the trainer's own settings
            message = "--set " + message[len(f"--set {trainer.section}."):]
        if message.startswith("--set total_steps="):
            message = "--steps=" + message[len("--set total_steps="):]
        if message.startswith("--set model="):
            message = "--model=" + message[len("--set model="):]
        for prefix in ("--set env.problems=", "--set problems="):
            if problems is not None and message.startswith(prefix):
                message = "--problems=" + message[len(prefix):]
        fail(message)
    check_writable_target(json_path, "--json")
    target = None
    if store is not None:
        from monarl.experiments.store import Store, StoreError

        try:
            target = Store(store)
            target.init()
        except StoreError as exc:
            fail(str(exc))
    from monarl.experiments.running import execute, train_json

    if quiet:
        silence_library_bars()
    started = time.perf_counter()
    try:
        records = execute(runs, target, quiet=quiet, command="monarl train")
    except (ConfigError, ValueError) as exc:
        fail(option_message(str(exc).splitlines()[0]))
    if len(records) < len(runs):
        fail(f"{len(runs) - len(records)} of {len(runs)} runs did not finish; see "
             f"{store}/log.jsonl and rerun the same command to resume")
    result = train_json(runs, records, time.perf_counter() - started, stored=target is not None)
    if json_path is not None:
        write_json(json_path, result)
    if not quiet:
        print_train_result(result)


def print_train_result(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    final = result["final"]
    per_seed = result.get("per_seed", [])
    if "updates" in result:  # language models: updates, and tokens per second per run
        speed = (f"{result.get('generation_tokens_per_second', 0):,.0f} generated + "
                 f"{result.get('training_tokens_per_second', 0):,.0f} trained tok/s per run")
        title = (f"{result.get('seeds')} seed(s), {result['updates']:,} updates each, "
                 f"{result.get('wall_seconds', 0):.1f} s, {speed}")
    else:
        title = (f"{result.get('seeds')} seed(s), {result.get('steps'):,} steps each, "
                 f"{result.get('wall_seconds', 0):.1f} s, "
                 f"{result.get('env_steps_per_second', 0):,.0f} env steps/s")
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("95 % CI (bootstrap over seeds)", justify="right")
    for key, value in final.items():
        if not isinstance(value, int | float):
            continue
        samples = [p[key] for p in per_seed if key in p]
        lo, hi = bootstrap_ci(np.asarray(samples)) if samples else (value, value)
        table.add_row(key, f"{value:.3f}", f"[{lo:.3f}, {hi:.3f}]")
    quality = result.get("approval_quality")
    if quality:  # a learned approval against the exact one (docs/approvals.md)
        for key in ("rank_correlation", "mae_reachable", "mae_visited"):
            samples = [q[key] for q in quality.get("per_seed", []) if key in q]
            if samples:
                lo, hi = bootstrap_ci(np.asarray(samples))
                table.add_row(f"approval_{key}", f"{np.mean(samples):.3f}",
                              f"[{lo:.3f}, {hi:.3f}]")
    console = Console()
    console.print(table)
    resumed = result.get("resumed_from")
    if resumed:  # language models: a killed run continued from its checkpoint (docs/llm.md)
        seeds = result.get("config", {}).get("seeds") or list(range(len(resumed)))
        console.print("Resumed from a checkpoint: " + ", ".join(
            f"seed {s} at update {k}" for s, k in zip(seeds, resumed, strict=False)
            if k is not None))
    alike = result.get("updates_like_ordinary")
    if alike and any(alike):  # MONA that trained as ordinary RL would have (docs/llm.md)
        from monarl.experiments.running import like_ordinary_sentence

        console.print(like_ordinary_sentence(alike, result["updates"] * len(alike)))
