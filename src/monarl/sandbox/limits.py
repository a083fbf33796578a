"""What one sandboxed program may use: wall time, CPU time, memory, processes, file sizes,
open files, the private /tmp and how much output comes back.

Limits are a frozen dataclass validated on construction, so a bad value fails before any
program runs and the message names the field, the value and what is allowed (the project's
rule for every configuration). The CPU-second limit defaults to the wall-clock timeout rounded
up: a program that is busy all the time is then stopped by whichever comes first, and one that
sleeps is stopped by the wall clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monarl.core.config import fail, is_int, is_number

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one run (all per program; see docs/sandbox.md)."""

    timeout_seconds: float = 5.0
    """Wall-clock limit: the parent kills the whole sandbox after this many seconds."""
    memory_mb: int = 512
    """Address-space limit (RLIMIT_AS) of each process, in MiB."""
    processes: int = 32
    """Processes and threads the run's user id may have (RLIMIT_NPROC counts per user id,
    which is why every run gets a user id of its own)."""
    cpu_seconds: int | None = None
    """CPU-time limit (RLIMIT_CPU) of each process; None: the timeout rounded up."""
    file_size_mb: int = 16
    """Largest file a process may write (RLIMIT_FSIZE); it also bounds stdout and stderr,
    which are files."""
    open_files: int = 64
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    output_bytes: int = 65536
    """Bytes of stdout and of stderr kept in the result; the rest is dropped and marked."""
    tmpfs_mb: int = 64
    """Size of the private /tmp under bubblewrap (the subprocess fallback cannot bound it)."""

    def __post_init__(self) -> None:
        if not is_number(self.timeout_seconds) or self.timeout_seconds <= 0:
            raise fail("", "timeout_seconds", self.timeout_seconds,
                       "must be a number of seconds > 0")
        minima = {"memory_mb": 1, "processes": 1, "file_size_mb": 1, "open_files": 8,
                  "output_bytes": 1, "tmpfs_mb": 1}
        for name, least in minima.items():
            value = getattr(self, name)
            if not is_int(value) or value < least:
                why = " (Python needs a few to start)" if name == "open_files" else ""
                raise fail("", name, value, f"must be an integer >= {least}{why}")
        if self.cpu_seconds is not None and (not is_int(self.cpu_seconds)
                                             or self.cpu_seconds < 1):
            raise fail("", "cpu_seconds", self.cpu_seconds,
                       "must be None (the timeout rounded up) or an integer >= 1")

    @property
    def cpu_limit(self) -> int:
        """The CPU-second limit in force (soft limit; the hard limit is one second later, so
        a program first gets SIGXCPU, which reads as a timeout)."""
        if self.cpu_seconds is not None:
            return int(self.cpu_seconds)
        return max(1, math.ceil(self.timeout_seconds))

    def rlimits(self) -> dict[str, int]:
        """The kernel limits in bytes, counts and seconds, by prlimit's option names."""
        return {"as": self.memory_mb * MIB, "nproc": self.processes, "cpu": self.cpu_limit,
                "fsize": self.file_size_mb * MIB, "nofile": self.open_files}
