"""``monarl reproduce``: the flagship job on built-in defaults, one report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monarl.cli.common import fail


def reproduce(
    out: Annotated[Path, typer.Option(help="Folder for report.md, plots and results.json.")
                   ] = Path("monarl-results/reproduce"),
    quick: Annotated[bool, typer.Option(
        help="Smoke run: fewer horizons and seeds and a tiny PPO budget (about a minute, not ~4)."
    )] = False,
    ppo: Annotated[bool, typer.Option(
        help="Include the PPO protocol (10 seeds x 1M steps per arm for ordinary RL, MONA and "
             "MONA with a noisy overseer, plus the warm start).")
    ] = True,
    loan: Annotated[bool, typer.Option(
        help="Include the encoded-reasoning comparison on the loan task (10 seeds x 1M steps "
             "per arm, about a minute).")] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bars; print only the report path.")
                     ] = False,
    workers: Annotated[int | None, typer.Option(
        help="PPO arms trained at once in threads (default: one per CPU; 1 = one after the "
             "other). The numbers are the same either way.")] = None,
) -> None:
    """Reproduce the paper's results with built-in defaults and write one report: the exact
    horizon study (sigma 0 and 0.5), the PPO protocol on Camera Dropbox (ordinary RL vs MONA,
    plus a noisy overseer and the warm start) and the encoded-reasoning loan comparison."""
    if out.exists() and not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a directory")
    if workers is not None and workers < 1:
        fail(f"--workers {workers} is invalid: must be an integer >= 1")
    from monarl.experiments.reproduce import reproduce as run_reproduce

    result = run_reproduce(out, quick=quick, ppo=ppo, quiet=quiet, loan=loan, workers=workers)
    typer.echo(f"report: {result['report']} ({result['wall_seconds']:.1f} s)")
