"""Start one sandbox command, feed its stdin, stop it at the wall clock, collect its output.

Why files and not pipes: stdin, stdout and stderr are anonymous in-memory files (memfd), so
the parent needs no reader threads, a program flooding its output is stopped by the file-size
limit (Python then gets ``OSError: File too large``) instead of costing the parent CPU, and
only the first ``cap`` bytes (and the last few KiB, for classifying) are ever read back. The
parent waits on a pidfd, so a program that ends in 20 ms is seen at once, and at the deadline
it SIGKILLs the command's whole process group (the command is started in a session of its
own); under bubblewrap that kills bwrap, whose ``--die-with-parent`` and PID namespace take
every process of the program down with it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TAIL_BYTES = 4096


@dataclass
class Launch:
    """A command ready to start: argv, extra inherited file descriptors, and for the
    subprocess fallback the working folder, environment and user id to switch to."""

    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: int | None = None
    after: Callable[[bool], object] | None = None
    """Called with ``timed_out`` once the command has ended and its group is killed, before
    the output is read: kills what is left of the run's user id."""


@dataclass
class Captured:
    """One output stream: its first bytes, its last bytes and how much was written."""

    head: bytes
    tail: bytes
    total: int


@dataclass
class Finished:
    returncode: int | None
    """As subprocess reports it; None when the command never started or was killed by the
    wall clock."""
    timed_out: bool
    wall_seconds: float
    stdout: Captured
    stderr: Captured
    launch_error: str | None = None


def scratch_file(name: str, data: bytes = b"") -> int:
    """An anonymous file holding ``data``, positioned at its start."""
    try:
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        with tempfile.TemporaryFile() as handle:
            fd = os.dup(handle.fileno())
    if data:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _capture(fd: int, cap: int) -> Captured:
    total = os.fstat(fd).st_size
    head = os.pread(fd, min(cap, total), 0) if total else b""
    start = max(0, total - TAIL_BYTES)
    tail = head[start:] if total <= cap else os.pread(fd, total - start, start)
    return Captured(head, tail, total)


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until the process exits or ``timeout`` passes; True when it exited."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # pragma: no cover - kernels before 5.3
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return proc.poll() is not None
            if poller.poll(max(1, int(left * 1000) + 1)):
                proc.wait()
                return True
    finally:
        os.close(pidfd)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def execute(launch: Launch, stdin: bytes, timeout: float, cap: int) -> Finished:
    """Run ``launch`` to its end or its deadline; never raises for the program's sake."""
    fds = [scratch_file("stdin", stdin), scratch_file("stdout"), scratch_file("stderr")]
    started = time.perf_counter()
    try:
        try:
            proc = subprocess.Popen(
                launch.argv, stdin=fds[0], stdout=fds[1], stderr=fds[2],
                pass_fds=launch.pass_fds, cwd=launch.cwd, env=launch.env,
                user=launch.user, group=launch.user,
                extra_groups=[] if launch.user is not None else None,
                start_new_session=True, close_fds=True)
        except (OSError, subprocess.SubprocessError) as exc:
            empty = Captured(b"", b"", 0)
            return Finished(None, False, time.perf_counter() - started, empty, empty,
                            launch_error=f"could not start {launch.argv[0]}: {exc}")
        exited = _wait(proc, timeout)
        # the group may outlive its leader (a fallback program's children): end it either way
        _kill_group(proc.pid)
        if not exited:
            proc.wait()
        if launch.after is not None:
            launch.after(not exited)
        wall = time.perf_counter() - started
        return Finished(proc.returncode if exited else None, not exited, wall,
                        _capture(fds[1], cap), _capture(fds[2], cap))
    finally:
        for fd in fds:
            os.close(fd)
