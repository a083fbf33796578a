"""The ``monarl`` command line (typer): one module per command group, assembled here.

Every command validates all of its input before any work starts; a bad value exits with
status 2 and one line on stderr naming the option, the value and what is allowed, and writes
nothing. Environments, approvals and trainers are named from their registries (``monarl
envs``, ``monarl approvals``), or as ``package.module:ATTR`` references to your own.
"""

from __future__ import annotations

import sys

import typer

from monarl.cli.experiments import report, sweep
from monarl.cli.listing import approvals, envs
from monarl.cli.reproduce import reproduce
from monarl.cli.rollout import rollout
from monarl.cli.sandbox import sandbox_app
from monarl.cli.solve import solve
from monarl.cli.suite import suite
from monarl.cli.train import train

app = typer.Typer(
    help="MONA vs ordinary RL: solve exactly, train, sweep and report on multi-step reward "
    "hacking (Camera Dropbox, the loan task, and your own environments and approvals).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for command in (solve, train, rollout, reproduce, suite, sweep, report, envs, approvals):
    app.command()(command)
app.add_typer(sandbox_app, name="sandbox")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: click's usage errors become one line on stderr (exit status 2)."""
    # typer vendors click; its exception classes are the ones raised here.
    from typer._click import exceptions as click_errors

    from monarl.runtime.jax_cache import enable_compilation_cache

    enable_compilation_cache()
    try:
        result = app(args=argv, prog_name="monarl", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:
        return 0  # click has printed the help already
    except click_errors.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "monarl"
        message = " ".join(exc.format_message().split()).replace("Value error, ", "")
        typer.echo(f"error: {message} (see '{command} --help')", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else 0


def _console() -> None:  # pragma: no cover - the installed `monarl` script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
