"""``monarl solve``: the exact horizon study of an environment with tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monarl.algos import TRAINERS
from monarl.algos.check import CheckError, check
from monarl.algos.exact import ExactSettings
from monarl.approval import ApprovalConfig
from monarl.cli.common import (
    BlockersOpt,
    BoxesOpt,
    ColsOpt,
    EvaluatorStepsOpt,
    LabelKindOpt,
    LabelsOpt,
    LeakOpt,
    MaxStepsOpt,
    MisspecOpt,
    NoiseOpt,
    NoisePerOpt,
    PenaltyOpt,
    RowsOpt,
    SetOpt,
    _choices,
    agree_options,
    check_message,
    check_writable_target,
    fail,
    given,
    option_message,
    parse_sets,
    route_sets,
    write_json,
)
from monarl.cli.help import APPROVAL_HELP, ENV_HELP
from monarl.core.config import ConfigError, check_reward, field_names, parse_horizons
from monarl.envs import EnvConfig

Reward = _choices(ExactSettings, "reward", "Reward")
TieBreak = _choices(ExactSettings, "tie_break", "TieBreak")
Window = _choices(ExactSettings, "window", "Window")

SOLVE_OPTIONS = {"horizons": "--horizons", "reward": "--reward", "tie_break": "--tie-break",
                 "window": "--window"}
"""The exact solver's settings and the horizon list, by the options that set them."""


def solve(
    env_name: Annotated[str, typer.Argument(metavar="ENV", help=ENV_HELP)] = "camera-dropbox",
    rows: RowsOpt = None,
    cols: ColsOpt = None,
    boxes: BoxesOpt = None,
    blockers: BlockersOpt = None,
    penalty: PenaltyOpt = None,
    max_steps: MaxStepsOpt = None,
    reward: Annotated[Reward, typer.Option(
        help="Reward trained on without an approval (an approval is the whole training "
        "reward).")] = Reward.observed,
    approval: Annotated[str, typer.Option(help=APPROVAL_HELP)] = "none",
    noise: NoiseOpt = None,
    noise_per: NoisePerOpt = None,
    misspec: MisspecOpt = None,
    labels: LabelsOpt = None,
    label_kind: LabelKindOpt = None,
    evaluator_steps: EvaluatorStepsOpt = None,
    leak: LeakOpt = None,
    horizons: Annotated[str | None, typer.Option(
        help="Optimization horizons M: '1-50', '1,2,4,8', 'none' (full horizon), or a mix "
        "such as '1-8,none' (default: every M from 1 to the step limit).")] = None,
    seeds: Annotated[int, typer.Option(
        help="Noise / tie-breaking seeds (results are averaged).")] = 1,
    tie_break: Annotated[TieBreak, typer.Option(
        help="Among equally good actions: random = seeded random choice among exactly equal "
        "Q (the public code's rule; rounding splits near-ties); random-near = also among Q "
        "within 1e-9; first = the first (U, D, L, R) within 1e-9."
    )] = TieBreak.random,
    window: Annotated[Window, typer.Option(
        help="optimal: each step plans its M-step window optimally (public code's "
        "semantics); policy: later window steps follow the policy itself (PPO's fixed point)."
    )] = Window.optimal,
    set_: SetOpt = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results JSON here."
                                                   )] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write report.md, horizon.png and results.json into this folder.")] = None,
    quiet: Annotated[bool, typer.Option(help="Print nothing but errors.")] = False,
) -> None:
    """Solve an environment exactly for every optimization horizon M and evaluate the greedy
    policy on every start state (outcome fractions, expected returns).

    Ordinary RL: --approval none (horizon 'none' or the step limit). MONA: --approval trusted
    --horizons 1. Needs an environment with tables (`monarl envs` lists them).
    """
    from monarl.envs import ENVS

    try:
        spec = ENVS.get(env_name, "ENV")
    except ConfigError as exc:
        fail(str(exc))
    from monarl.approval import APPROVALS

    try:
        approval_spec = APPROVALS.get(approval, "--approval")
    except ConfigError as exc:
        fail(str(exc))
    sets = route_sets(parse_sets(set_), {"exact": field_names(ExactSettings),
                                         "env": field_names(spec.settings),
                                         "approval": field_names(approval_spec.settings)})
    env_fields = given({"rows": rows, "cols": cols, "boxes": boxes, "blockers": blockers,
                        "penalty": penalty, "max_steps": max_steps})
    approval_fields = given({"noise": noise, "noise_per": noise_per, "misspec": misspec,
                             "labels": labels, "label_kind": label_kind,
                             "evaluator_steps": evaluator_steps, "leak": leak})
    agree_options({"env": env_fields, "approval": approval_fields}, sets)
    try:
        env = EnvConfig.from_mapping({"name": env_name, **env_fields, **sets["env"]}, "")
        approval_cfg = ApprovalConfig.from_mapping(
            {"kind": approval, **approval_fields, **sets["approval"]}, "", env=env.name)
        settings = ExactSettings(reward=reward.value, tie_break=tie_break.value,
                                 window=window.value)
        if sets["exact"]:
            import dataclasses

            settings = dataclasses.replace(settings, **sets["exact"])
        settings.validate("")
        horizon_list = parse_horizons(horizons or f"1-{env.max_steps}", env.max_steps)
    except ConfigError as exc:
        fail(option_message(str(exc), SOLVE_OPTIONS))
    if seeds < 1:
        fail(f"--seeds={seeds} is invalid: must be an integer >= 1")
    try:
        check_reward(settings.reward, approval_cfg.kind)
    except ConfigError as exc:
        fail(option_message(str(exc), SOLVE_OPTIONS).replace("'", ""))
    try:
        check(env, approval_cfg, TRAINERS.get("exact"))
    except CheckError as exc:
        if exc.section == "approval":
            reason = exc.problem.split(": ", 1)[-1]
            fail(f"{check_message(exc).split(' ')[0]} is invalid for monarl solve: {reason}; "
                 "use monarl train")
        fail(check_message(exc, SOLVE_OPTIONS))
    check_writable_target(json_path, "--json")
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a directory")

    from monarl.algos.exact.study import exact_study

    study = exact_study(env, approval_cfg, horizon_list, seeds=seeds, reward=settings.reward,
                        tie_break=settings.tie_break, window=settings.window)
    if json_path is not None:
        write_json(json_path, study)
    if out is not None:
        from monarl.reports.study import write_study_report

        paths = write_study_report(study, out)
    if not quiet:
        print_study(study)
        if out is not None:
            typer.echo(f"report: {paths['report']}  plot: {paths['plot']}")


def print_study(study: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    outcomes = [k for k in study["results"][0]
                if k not in ("horizon", "per_seed", "observed_return", "true_return",
                             "episode_length")]
    table = Table(title=f"{study['states']:,} states, {study['initial_states']} starts, "
                  f"{study['seeds']} seed(s), {study['wall_seconds']:.2f} s")
    for col in ("M", *outcomes, "observed return", "true return"):
        table.add_column(col, justify="right")
    for r in study["results"]:
        table.add_row("none" if r["horizon"] is None else str(r["horizon"]),
                      *(f"{r[o]:.2f}" for o in outcomes),
                      f"{r['observed_return']:.3f}", f"{r['true_return']:.3f}")
    Console().print(table)
