"""``monarl sandbox run FILE``: run a Python program in the sandbox that model-written code
runs in (monarl.sandbox), and show how it ended.

For trying the sandbox by hand and from scripts: ``--json`` prints the result as one JSON
object (``status``, ``exit_code``, ``stdout``, ``stderr``, ``wall_seconds``, ``isolation``,
``security_boundary``).
The exit status is 0 when the program's status is ``ok``, 1 for any other status, and 2 for
bad input, which is refused in one line before anything runs.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from monarl.cli.common import fail, option_message
from monarl.core.config import ConfigError

sandbox_app = typer.Typer(
    help="Run Python programs in the sandbox for model-written code (bubblewrap isolation, "
    "resource limits; docs/sandbox.md).",
    no_args_is_help=True,
)

LIMIT_OPTIONS = {"timeout_seconds": "--timeout", "memory_mb": "--memory"}


class Isolation(StrEnum):
    auto = "auto"
    bubblewrap = "bubblewrap"
    subprocess = "subprocess"


@sandbox_app.command("run")
def run(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The Python program to run.")],
    timeout: Annotated[float, typer.Option(
        help="Wall-clock limit in seconds (> 0); the CPU-time limit is this rounded up.")
    ] = 5.0,
    memory: Annotated[int, typer.Option(
        help="Address-space limit per process in MiB (> 0).")] = 512,
    isolation: Annotated[Isolation, typer.Option(
        help="auto: bubblewrap where it works here, else the subprocess fallback (NOT a "
        "security boundary; it warns); bubblewrap: refuse to run without it; subprocess: "
        "force the fallback.")] = Isolation.auto,
    stdin: Annotated[Path | None, typer.Option(
        "--stdin", help="A file to feed to the program's standard input.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the result as one JSON object instead.")] = False,
) -> None:
    """Run FILE in the sandbox and print its status, exit code, output and wall time."""
    from monarl.sandbox import SandboxLimits, SandboxUnavailable, run_python
    from monarl.sandbox.runner import bubblewrap_problem

    source = _read(file, "FILE")
    given_stdin = "" if stdin is None else _read(stdin, "--stdin")
    if memory <= 0:
        fail(f"--memory={memory} is invalid: must be an integer >= 1 (MiB)")
    try:
        limits = SandboxLimits(timeout_seconds=timeout, memory_mb=memory)
    except ConfigError as exc:
        fail(option_message(str(exc), LIMIT_OPTIONS))
    if isolation is Isolation.bubblewrap and (problem := bubblewrap_problem()) is not None:
        fail(f"--isolation=bubblewrap is unavailable here: {problem}")
    try:
        result = run_python(source, stdin=given_stdin, limits=limits,
                            isolation=isolation.value)
    except SandboxUnavailable as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.to_json()))
    else:
        code = "none" if result.exit_code is None else result.exit_code
        boundary = "" if result.security_boundary else ", NOT a security boundary"
        typer.echo(f"status: {result.status} (exit code {code}, {result.wall_seconds:.3f} s, "
                   f"isolation {result.isolation}{boundary})")
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if text:
                typer.echo(f"--- {name} ---")
                typer.echo(text, nl=not text.endswith("\n"))
    if not result.ok:
        raise typer.Exit(1)


def _read(path: Path, option: str) -> str:
    if not path.is_file():
        fail(f"{option} {str(path)!r} is invalid: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{option} {str(path)!r} cannot be read as UTF-8 text: {exc}")
    raise AssertionError("unreachable")
