"""The work behind ``monarl sweep`` and ``monarl report`` (cli.py keeps only thin wrappers).

Everything is validated before anything is written; problems raise :class:`CommandError`
whose message is the one line the CLI prints.
"""

from __future__ import annotations

from pathlib import Path

from monarl.experiments.executors import EXECUTORS, ray_available
from monarl.experiments.spec import SpecError, default_store, load_sweep
from monarl.experiments.store import Store, StoreError
from monarl.reports.report import ReportError


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
    from monarl.runtime.provenance import command_line

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
    from monarl.cli.app import typer

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
        from monarl.cli.app import typer

        paths = result["paths"]
        typer.echo(
            f"report: {paths['report']}  html: {paths['html']}  json: "
            f"{paths.get('json_copy', paths['json'])}"
        )
    return result


__all__ = ["CommandError", "report_command", "sweep_command"]
