"""``monarl sweep`` and ``monarl report``, and the work behind them.

Everything is validated before anything is written; problems raise :class:`CommandError`
whose message is the one line the CLI prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monarl.cli.common import fail, silence_library_bars
from monarl.experiments.executors import EXECUTORS, ray_available
from monarl.experiments.spec import SpecError, default_store, load_sweep
from monarl.experiments.store import Store, StoreError
from monarl.reports.report import ReportError
from monarl.runtime.provenance import command_line


class CommandError(ValueError):
    """A usage error: one line, nothing written."""


def _check_store_target(path: Path, option: str) -> None:
    if path.exists() and not path.is_dir():
        raise CommandError(f"{option} {str(path)!r} exists and is not a directory")
    if path.is_dir() and not Store(path).exists() and any(path.iterdir()):
        raise CommandError(
            f"{option} {str(path)!r} is a non-empty directory that is not a run "
            "store: give a new or existing store folder"
        )


def sweep_command(
    file: Path,
    store: Path | None = None,
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
) -> int:
    """Validate, then run the experiment; returns the exit status (0 ok, 1 failed runs,
    130 interrupted)."""
    if executor not in EXECUTORS:
        raise CommandError(
            f"--executor={executor!r} is invalid: allowed are {', '.join(EXECUTORS)}"
        )
    if workers is not None and workers < 1:
        raise CommandError(f"--workers={workers} is invalid: must be an integer >= 1")
    if address is not None and executor != "ray":
        raise CommandError("--address is only for --executor ray")
    if executor == "ray" and not ray_available():
        raise CommandError("--executor ray needs Ray: pip install 'monarl[ray]'")
    try:
        sweep = load_sweep(file)
    except SpecError as exc:
        raise CommandError(str(exc)) from None
    store_path = Path(store) if store is not None else default_store(Path(file))
    _check_store_target(store_path, "--store")

    from monarl.experiments import sweep as sweep_mod

    # workers' library bars (a GGUF model loading) would tear through the sweep's own display
    silence_library_bars()
    factory = (
        sweep_mod.ray_factory(address, workers)
        if executor == "ray"
        else sweep_mod.local_factory(workers)
    )
    st = Store(store_path)
    try:
        outcome = sweep_mod.run_sweep(sweep, st, factory, quiet=quiet, command=command_line())
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    if outcome.interrupted:
        typer.echo(
            f"interrupted: {sweep_mod.describe_outcome(outcome, st)}; run the same "
            "command again to resume",
            err=True,
        )
        return 130
    if outcome.failed:
        first_id, first = next(iter(outcome.failed.items()))
        typer.echo(
            f"error: {len(outcome.failed)} run(s) failed, e.g. run {first_id}: {first}"
            f" (tracebacks in {st.root / 'log.jsonl'})",
            err=True,
        )
        return 1
    if not quiet:
        typer.echo(f"done: {sweep_mod.describe_outcome(outcome, st)}")
        target = file if store is None else st.root
        typer.echo(f"report: monarl report {target}")
    return 0


def report_command(
    target: Path, out: Path | None = None, json_path: Path | None = None, quiet: bool = False
) -> dict:
    from monarl.reports.report import report

    if out is not None and out.exists() and not out.is_dir():
        raise CommandError(f"--out {str(out)!r} exists and is not a directory")
    if json_path is not None and json_path.is_dir():
        raise CommandError(f"--json {str(json_path)!r} is a directory: give a file path")
    try:
        result = report(target, out, json_path)
    except (ReportError, StoreError) as exc:
        raise CommandError(str(exc)) from None
    if not quiet:
        paths = result["paths"]
        typer.echo(
            f"report: {paths['report']}  html: {paths['html']}  json: "
            f"{paths.get('json_copy', paths['json'])}"
        )
    return result


def sweep(
    file: Annotated[Path, typer.Argument(help="Experiment file (TOML): base config + sweep axes.")],
    store: Annotated[Path | None, typer.Option(
        help="Run store folder (default: beside the file, FILE without .toml + '.store').")
    ] = None,
    executor: Annotated[str, typer.Option(help="Where runs execute: local (process pool) or "
                                          "ray (pip install 'monarl\\[ray]').")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address (default: start a local Ray instance).")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Parallel workers (default: the machine's CPU count, at most one per task).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display; print only errors.")] = False,
) -> None:
    """Expand an experiment file, skip runs already in the store and run the rest (resumable:
    rerun the same command after a crash or Ctrl-C)."""
    try:
        code = sweep_command(file, store, executor, address, workers, quiet)
    except CommandError as exc:
        fail(str(exc))
    if code:
        raise typer.Exit(code)


def report(
    target: Annotated[Path, typer.Argument(metavar="STORE_OR_SWEEPFILE", help=(
        "A run store folder, or an experiment file (its store beside it; only its runs)."))],
    out: Annotated[Path | None, typer.Option(
        help="Folder for report.md, report.html, PNGs and report.json (default STORE/report)."
    )] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the numbers "
                                                   "(JSON) here.")] = None,
    quiet: Annotated[bool, typer.Option(help="Print only errors.")] = False,
) -> None:
    """Report a store: final metrics per condition (outcome fractions and returns, or the
    loan task's accuracies, leakage and flip rate) as mean and 95 % bootstrap CI over seeds,
    training curves, horizon plots, the safety-capability frontier and alignment tax when the
    store holds several approval families or a hack-free control, and provenance."""
    try:
        report_command(target, out, json_path, quiet)
    except CommandError as exc:
        fail(str(exc))


__all__ = ["CommandError", "report", "report_command", "sweep", "sweep_command"]
