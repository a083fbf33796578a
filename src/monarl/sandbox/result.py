"""What came back from a sandboxed program, and the one rule that names its status.

Statuses:

- ``ok``: exit status 0.
- ``failed``: a nonzero exit status (an uncaught exception included).
- ``timeout``: killed by the parent's wall clock, or by the CPU-time limit (SIGXCPU; or
  SIGKILL after running at least the CPU limit in wall time: the hard CPU limit).
- ``memory``: did not exit 0 and the end of stderr names a MemoryError or a failed
  allocation ("Cannot allocate memory", "out of memory"): under an address-space limit that is
  how exhaustion shows, in Python and in C code alike. A program that prints those words and
  fails is read as out of memory; it gains nothing by it.
- ``killed``: ended by any other signal.
- ``error``: the sandbox itself could not run the program (a tool missing or refusing,
  recognised by its own error line on stderr, e.g. ``bwrap: ...``).

Under bubblewrap a program killed by signal N is reported by bwrap as exit status 128 + N, so
an exit status above 128 naming a signal is read as that signal (a program that calls
``sys.exit(137)`` reads as killed by SIGKILL). ``exit_code`` follows subprocess: ``-N`` for a
signal, ``None`` where there is no exit status (the wall clock or an error).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

STATUSES = ("ok", "failed", "timeout", "memory", "killed", "error")
ISOLATIONS = ("bubblewrap", "subprocess")
JSON_KEYS = ("status", "exit_code", "stdout", "stderr", "wall_seconds", "isolation",
             "security_boundary")

MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "out of memory")
TOOL_PREFIXES = ("bwrap: ", "setpriv: ", "prlimit: ")
"""Error lines of the sandbox's own tools: the program never ran."""


@dataclass(frozen=True)
class SandboxResult:
    """One run: its status (see the module doc), exit code, capped output and wall time."""

    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    wall_seconds: float
    isolation: str
    """``bubblewrap`` (a security boundary) or ``subprocess`` (resource limits only)."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    uid: int | None = None
    """The user id the program ran as."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def security_boundary(self) -> bool:
        """Whether the program ran behind a security boundary: False for the subprocess
        fallback, so that a result read on its own (a JSON line in a log) says so too, not only
        the warning printed once on stderr."""
        return self.isolation == "bubblewrap"

    def to_json(self) -> dict[str, Any]:
        """The result as the CLI prints it (``monarl sandbox run --json``)."""
        return {key: getattr(self, key) for key in JSON_KEYS}


def signal_of(exit_code: int, isolation: str) -> int | None:
    """The signal that ended the program, if any (bwrap reports 128 + N)."""
    if exit_code < 0:
        return -exit_code
    if isolation == "bubblewrap" and exit_code > 128 and exit_code - 128 in _SIGNALS:
        return exit_code - 128
    return None


_SIGNALS = {int(s) for s in signal.Signals}


def classify(returncode: int | None, *, timed_out: bool, wall_seconds: float, cpu_limit: int,
             stderr_head: str, stderr_tail: str, isolation: str) -> tuple[str, int | None]:
    """(status, exit_code) by the rule in the module doc."""
    if timed_out:
        return "timeout", None
    if returncode is None:
        return "error", None
    first = stderr_head.lstrip().partition("\n")[0]
    if returncode != 0 and first.startswith(TOOL_PREFIXES):
        return "error", None
    number = signal_of(returncode, isolation)
    exit_code = -number if number is not None else returncode
    if returncode == 0:
        return "ok", 0
    if any(word in stderr_tail for word in MEMORY_WORDS):
        return "memory", exit_code
    if number == signal.SIGXCPU or (number == signal.SIGKILL and wall_seconds >= cpu_limit):
        return "timeout", exit_code
    if number is not None:
        return "killed", exit_code
    return "failed", exit_code


def clip(head: bytes, total: int, cap: int) -> tuple[str, bool]:
    """The first ``cap`` bytes as text, marked when more was written."""
    text = head[:cap].decode("utf-8", errors="replace")
    if total <= cap:
        return text, False
    return text + f"\n[monarl.sandbox: output truncated: {total} bytes written, the first " \
                  f"{cap} kept]\n", True
