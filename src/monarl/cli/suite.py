"""``monarl suite``: ordinary RL against MONA on every specification-gaming environment, with
the exact solver and PPO, one report (``monarl.experiments.suite``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monarl.cli.common import check_writable_target, fail
from monarl.core.config import ConfigError


def suite(
    envs: Annotated[str | None, typer.Option(
        help="Comma-separated environments to run (default: all of the suite's: "
             "camera-dropbox, tomato-watering, absent-supervisor, rocks-diamonds, boat-race)."
    )] = None,
    ppo: Annotated[bool, typer.Option(help="Include the PPO runs (--no-ppo: exact solver only, "
                                           "seconds).")] = True,
    true_step_ppo: Annotated[bool, typer.Option(
        help="Also train the true-step MONA arm (approval true-advantage) with PPO, on the "
             "hackable environment and its control (by default it runs with the exact solver "
             "only).")] = False,
    seeds: Annotated[int, typer.Option(help="Seeds per condition (PPO training seeds; the "
                                            "exact solver's tie-breaking seeds).")] = 10,
    out: Annotated[Path, typer.Option(
        help="Folder for report.md, report.html, suite.png, results.json, the experiment file "
             "suite.toml and its run store (rerun the same command to resume).")
    ] = Path("monarl-results/suite"),
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the results JSON here.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes (default: one per CPU).")] = None,
    quick: Annotated[bool, typer.Option(
        help="Smoke run: 2 seeds and 1 % of each PPO budget (the pipeline, not the numbers)."
    )] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Run ordinary RL, MONA (trusted approval, M = 1) and the true-reward optimum on Camera
    Dropbox and the AI Safety Gridworlds (tomato watering, absent supervisor, rocks and
    diamonds, boat race), each with the exact solver and with PPO, plus each hack-free
    control for the alignment tax, and write one report."""
    from monarl.experiments.suite import plan, run_suite
    from monarl.reports.suite import write_suite_report
    from monarl.runtime.provenance import command_line

    names = [n.strip() for n in envs.split(",") if n.strip()] if envs is not None else None
    if envs is not None and not names:
        fail("--envs='' is invalid: name at least one environment")
    if workers is not None and workers < 1:
        fail(f"--workers={workers} is invalid: must be an integer >= 1")
    if out.exists() and not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a directory")
    check_writable_target(json_path, "--json")
    try:
        the_plan = plan(names, ppo=ppo, seeds=2 if quick else seeds,
                        steps_scale=0.01 if quick else 1.0, true_step_ppo=true_step_ppo)
    except ConfigError as exc:
        fail(str(exc))
    command = command_line()
    data = run_suite(the_plan, out, workers=workers, quiet=quiet, command=command)
    paths = write_suite_report(data, the_plan.entries, out, json_path, command)
    typer.echo(f"report: {paths['report']}  html: {paths['html']}  json: {paths['json']} "
               f"({data['wall_seconds']:.0f} s)")
    if not data["ok"]:
        typer.echo(f"error: {data['failed']} of {data['runs']} runs failed; see "
                   f"{out}/suite.store/log.jsonl and rerun the same command to resume",
                   err=True)
        raise typer.Exit(1)
