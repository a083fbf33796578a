"""What every command shares: failing in one line, writing JSON, the options that set an
environment's or an approval's settings, and ``--set``.

Components are chosen by name from their registries (``ENV``, ``--approval``, ``--algo``), and
their settings come from two places: the convenience options of the built-in settings
(``--rows``, ``--noise``, ...: each sets the setting of the same name, and only when given) and
``--set [SECTION.]FIELD=VALUE`` for any setting of any component, your own included
(``--set env.rows=5``, ``--set approval.noise=0.5``, ``--set learning_rate=1e-3``). Bad input
exits with status 2 and one line naming the option, before any work starts.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from monarl.approval.learned import LearnedSettings
from monarl.approval.overseer import OverseerSettings
from monarl.approval.trusted import NoiseSettings
from monarl.core.config import ConfigError

# --------------------------------------------------------------------------------------------
# Failing, writing
# --------------------------------------------------------------------------------------------


def fail(message: str) -> None:
    """One line on stderr, exit status 2 (the convention for usage errors)."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(2)


def silence_library_bars() -> None:
    """Turn off the progress bars that libraries draw on their own: transformers' (read when
    it is first imported) and plain tqdm's (its GGUF loading, "Converting and de-quantizing
    GGUF tensors", which only TQDM_DISABLE reaches; tqdm reads it when first imported). Set in
    the environment, so a sweep's worker processes inherit it. monarl's own bars are rich's."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")


def write_json(path: Path, data: object) -> None:
    """Write JSON atomically (temp file + rename), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def check_writable_target(path: Path | None, option: str) -> None:
    if path is not None and path.exists() and path.is_dir():
        fail(f"{option} {str(path)!r} is a directory: give a file path")


# --------------------------------------------------------------------------------------------
# Options that set components' settings
# --------------------------------------------------------------------------------------------

ENV_OPTIONS = {"rows": "--rows", "cols": "--cols", "boxes": "--boxes", "blockers": "--blockers",
               "penalty": "--penalty", "max_steps": "--max-steps"}
"""Settings of the built-in environments with options of their own (Camera Dropbox's)."""
APPROVAL_OPTIONS = {"noise": "--noise", "noise_per": "--noise-per", "misspec": "--misspec",
                    "labels": "--labels", "label_kind": "--label-kind",
                    "evaluator_steps": "--evaluator-steps", "evaluator_lr": "--evaluator-lr",
                    "leak": "--leak", "overseer_steps": "--overseer-steps",
                    "overseer_start_time": "--overseer-start"}
"""Approval settings with options of their own."""

def _choices(cls: type, field: str, name: str) -> type:
    import dataclasses
    from enum import StrEnum

    values = next(f.metadata["choices"] for f in dataclasses.fields(cls) if f.name == field)
    return StrEnum(name, {v.replace("-", "_"): v for v in values})


NoisePer = _choices(NoiseSettings, "noise_per", "NoisePer")
LabelKind = _choices(LearnedSettings, "label_kind", "LabelKind")
OverseerStart = _choices(OverseerSettings, "overseer_start_time", "OverseerStart")

RowsOpt = Annotated[int | None, typer.Option(
    help="Board rows (>= 3; boxes start off the edges). Camera Dropbox default 4.")]
ColsOpt = Annotated[int | None, typer.Option(help="Board columns (>= 3). Default 4.")]
BoxesOpt = Annotated[int | None, typer.Option(help="Number of boxes (paper: 2).")]
BlockersOpt = Annotated[int | None, typer.Option(
    help="Boxes needed in the bottom row to block the camera (paper: 1). Blockers > boxes - 1 "
    "is the hack-free control: the camera can then never be blocked.")]
PenaltyOpt = Annotated[float | None, typer.Option(
    help="Penalty per non-ENDED state entered (default 0.01).")]
MaxStepsOpt = Annotated[int | None, typer.Option(
    "--max-steps", help="Step limit T (truncation; Camera Dropbox default 50).")]

NoiseOpt = Annotated[float | None, typer.Option(
    help="Gaussian noise sigma of the overseer's value (trusted, misspecified, learned, "
    "evaluator-rl, leak; default 0).")]
NoisePerOpt = Annotated[NoisePer | None, typer.Option(
    help="Noise once per state on the value (state, the paper's) or per (t, s, a) step on the "
    "approval (step).")]
MisspecOpt = Annotated[float | None, typer.Option(
    help="misspecified: weight m in [0, 1] of the observed reward in the overseer's value.")]
LabelsOpt = Annotated[int | None, typer.Option(
    help="learned: overseer label budget N (>= 1; default 1024).")]
LabelKindOpt = Annotated[LabelKind | None, typer.Option(
    help="learned: label = exact advantage (advantage) or the outcome under the trusted "
    "policy (outcome).")]
EvaluatorStepsOpt = Annotated[int | None, typer.Option(
    help="evaluator-rl: observed-reward Bellman backups k given to the evaluator (0 = MONA).")]
LeakOpt = Annotated[float | None, typer.Option(
    help="leak: weight w in [0, 1] of the realized future return (negative control).")]
EvaluatorLrOpt = Annotated[float | None, typer.Option(
    help="evaluator-rl with PPO only: train the evaluator inside PPO instead of giving it "
    "exact backups. Its value table starts at the trusted value and, during the first "
    "--evaluator-steps k PPO updates, moves toward the rollouts' observed returns with this "
    "step size in [0, 1] (k = 0 or 0 = trusted MONA; docs/approvals.md).")]
OverseerStepsOpt = Annotated[int | None, typer.Option(
    help="For trusted-critic and continuation-rollout only. Environment steps per seed of the "
    "overseer's PPO run on the true reward, whose critic (or greedy policy) gives the approval "
    "(not counted in --steps; default 1,000,000).")]
OverseerStartOpt = Annotated[OverseerStart | None, typer.Option(
    "--overseer-start",
    help="For trusted-critic and continuation-rollout only. The overseer's training episodes "
    "start at t = 0 (zero) or at a uniformly drawn step (uniform), so it also learns late time "
    "steps.")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Any setting, [SECTION.]FIELD=VALUE (repeatable): env.FIELD, approval.FIELD, "
    "or the trainer's FIELD (e.g. --set learning_rate=1e-3, --set env.dry_probability=0); "
    "`monarl envs` / `monarl approvals` list every setting.")]


def agree(option: str, name: str, value: Any, fields: dict[str, Any]) -> None:
    """Refuse an option and a ``--set`` of the same setting with different values: which one
    wins would otherwise be a silent accident (``--model tiny --set model=x`` trained tiny)."""
    field = name.rpartition(".")[2]
    if field in fields and fields[field] != value:
        fail(f"{option}={value!r} and --set {name}={fields[field]!r} disagree: give the "
             "setting once")


def agree_options(options: dict[str, dict[str, Any]], sets: dict[str, dict[str, Any]]) -> None:
    """:func:`agree` for every convenience option given (``{"env": {"rows": 4}, ...}``)
    against ``--set`` of the same section (``--rows`` against ``--set env.rows``)."""
    for section, given_options in options.items():
        for name, value in given_options.items():
            agree(f"--{name.replace('_', '-')}", f"{section}.{name}", value, sets[section])


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The options that were given (a convenience option left out is None), enums as their
    values."""
    return {k: getattr(v, "value", v) for k, v in values.items() if v is not None}


def parse_sets(items: list[str] | None, option: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values parsed as TOML scalars (numbers, booleans, strings,
    lists)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"{option} {item!r} is invalid: use KEY=VALUE, e.g. {option} learning_rate=1e-3")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out[key.strip().replace("-", "_")] = value
    return out


def route_sets(sets: dict[str, Any], sections: dict[str, tuple[str, ...]],
               option: str = "--set") -> dict[str, dict[str, Any]]:
    """Sort ``--set`` keys into sections (``sections``: name -> known fields, in the order a
    bare field is looked up): ``SECTION.FIELD`` says where; a bare field goes to the first
    section that has it."""
    out: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for key, value in sets.items():
        head, _, field = key.partition(".")
        if field:
            if head not in sections:
                fail(f"{option} {key}={value!r} is invalid: the section {head!r} is unknown; "
                     f"use {', '.join(sections)}")
            out[head][field] = value
            continue
        owner = next((name for name, fields in sections.items() if key in fields), None)
        if owner is None:
            listed = "; ".join(f"{name}: {', '.join(sorted(fields)) or 'no settings'}"
                               for name, fields in sections.items())
            fail(f"{option} {key}={value!r} is invalid: unknown setting; known are {listed}")
        out[owner][key] = value
    return out


def option_message(message: str, options: dict[str, str] | None = None) -> str:
    """Relabel a settings message for CLI users: ``env.rows=2 is invalid`` (or ``rows=2``) ->
    ``--rows=2 is invalid``; a setting without an option of its own -> ``--set FIELD=...``."""
    options = {**ENV_OPTIONS, **APPROVAL_OPTIONS, **(options or {})}
    match = re.match(r"^(?:(env|approval|[a-z_]+)\.)?([a-z_][a-z0-9_]*)(=.*)$", message, re.S)
    if not match:
        return message
    section, field, rest = match.groups()
    # settings named inside the message ("exceeds the step limit env.max_steps=50") too
    rest = re.sub(r"\b(?:env|approval)\.([a-z_][a-z0-9_]*)=",
                  lambda m: f"{options[m.group(1)]}=" if m.group(1) in options else m.group(0),
                  rest)
    if field in options and section in (None, "env", "approval"):
        return f"{options[field]}{rest}"
    if field == "kind" and section in (None, "approval"):
        return f"--approval{rest}"
    if field == "name" and section in (None, "env"):
        return f"ENV{rest}"
    prefix = f"{section}." if section in ("env", "approval") else ""
    return f"--set {prefix}{field}{rest}"


def check_message(exc: Any, options: dict[str, str] | None = None) -> str:
    """A refusal of :func:`monarl.algos.check.check` with its fields as the CLI's options."""
    from monarl.algos.check import CheckError

    if not isinstance(exc, CheckError):
        return option_message(str(exc), options)
    labels = []
    for field, value in exc.fields.items():
        text = option_message(f"{exc.section}.{field}={value}", options)
        labels.append(text)
    return f"{' '.join(labels)} {exc.problem}"


def config_error(exc: ConfigError) -> None:
    fail(check_message(exc))
