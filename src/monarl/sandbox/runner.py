"""``run_python`` and ``run_many``: choose the isolation, lease a user id, run, classify.

``isolation="auto"`` uses bubblewrap where it works here (found out once per process by
running a trivial program through it) and otherwise the subprocess fallback, which warns;
``"bubblewrap"`` refuses to run without it (:class:`SandboxUnavailable`), so code that must
not run unisolated can say so; ``"subprocess"`` forces the fallback (tests, comparisons).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from monarl.core.config import fail, is_int
from monarl.sandbox import bubblewrap, fallback
from monarl.sandbox.limits import SandboxLimits
from monarl.sandbox.process import Finished, Launch, execute, scratch_file
from monarl.sandbox.result import SandboxResult, classify, clip
from monarl.sandbox.uids import kill_all, lease_uid, task_count

ISOLATION_CHOICES = ("auto", "bubblewrap", "subprocess")


class SandboxUnavailable(RuntimeError):
    """``isolation="bubblewrap"`` was asked for where bubblewrap cannot run."""


_probe_lock = threading.Lock()
_probe: list[str | None] = []


def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot isolate programs here, or None when it can (probed once per
    process by running ``pass`` through the full command)."""
    with _probe_lock:
        if not _probe:
            reason = bubblewrap.missing()
            if reason is None:
                result = _run("pass", "", SandboxLimits(timeout_seconds=10), "bubblewrap")
                if result.status != "ok":
                    detail = " ".join(result.stderr.split())[:300] or result.status
                    reason = f"bwrap could not run a trivial program: {detail}"
            _probe.append(reason)
        return _probe[0]


def isolation_available() -> str:
    """The isolation ``isolation="auto"`` gives here: ``bubblewrap`` or ``subprocess``."""
    return "bubblewrap" if bubblewrap_problem() is None else "subprocess"


def _resolve(isolation: str) -> str:
    if isolation not in ISOLATION_CHOICES:
        raise fail("", "isolation", isolation, f"must be one of {', '.join(ISOLATION_CHOICES)}")
    if isolation == "subprocess":
        fallback.warn_once("isolation='subprocess' was asked for")
        return isolation
    problem = bubblewrap_problem()
    if problem is None:
        return "bubblewrap"
    if isolation == "bubblewrap":
        raise SandboxUnavailable(f"isolation='bubblewrap' is unavailable here: {problem}")
    fallback.warn_once(problem)
    return "subprocess"


@contextlib.contextmanager
def _launch(source: str, limits: SandboxLimits, isolation: str,
            uid: int | None) -> Iterator[Launch]:
    # Without a user id of its own the run shares RLIMIT_NPROC with everything the caller
    # runs: count those in, so the limit still bounds the program's own processes.
    nproc = None if uid is not None else limits.processes + task_count(os.getuid())
    if isolation == "subprocess":
        with fallback.prepare(source, limits, uid=uid, nproc=nproc) as launch:
            yield launch
        return
    program = scratch_file("program", source.encode("utf-8", "surrogatepass"))
    try:
        argv = bubblewrap.command(limits, uid=uid, program_fd=program, nproc=nproc)
        yield Launch(argv, pass_fds=(program,), after=_reaper(uid))
    finally:
        os.close(program)


def _reaper(uid: int | None) -> Callable[[bool], object] | None:
    """After a wall-clock kill, bwrap's namespace dies asynchronously (its init gets SIGKILL
    when the bwrap we killed is gone): as root, kill the run's user id's processes at once and
    wait until none runs, so the id is clean before the next run leases it. A program that
    ends by itself needs nothing: bwrap returns only after its namespace has emptied."""
    if uid is None:
        return None
    return lambda timed_out: kill_all(uid) if timed_out else None


def _result(done: Finished, limits: SandboxLimits, isolation: str,
            uid: int | None) -> SandboxResult:
    cap = limits.output_bytes
    stdout, out_cut = clip(done.stdout.head, done.stdout.total, cap)
    stderr, err_cut = clip(done.stderr.head, done.stderr.total, cap)
    if done.launch_error:
        stderr = f"{stderr}{done.launch_error}\n"
    status, exit_code = classify(
        done.returncode, timed_out=done.timed_out, wall_seconds=done.wall_seconds,
        cpu_limit=limits.cpu_limit, stderr_head=stderr,
        stderr_tail=done.stderr.tail.decode("utf-8", errors="replace"), isolation=isolation)
    return SandboxResult(status, exit_code, stdout, stderr, round(done.wall_seconds, 6),
                         isolation, out_cut, err_cut, uid if uid is not None else os.getuid())


def _run(source: str, stdin: str, limits: SandboxLimits, isolation: str) -> SandboxResult:
    with lease_uid() as uid:
        try:
            with _launch(source, limits, isolation, uid) as launch:
                done = execute(launch, stdin.encode("utf-8", "surrogatepass"),
                               limits.timeout_seconds, limits.output_bytes)
        except (OSError, RuntimeError) as exc:
            return SandboxResult("error", None, "", f"monarl.sandbox: {exc}\n", 0.0,
                                 isolation, uid=uid)
        return _result(done, limits, isolation, uid)


def run_python(source: str, *, stdin: str = "", limits: SandboxLimits | None = None,
               isolation: str = "auto") -> SandboxResult:
    """Run the Python program ``source`` in the sandbox and say how it ended.

    ``stdin`` is the program's standard input. ``isolation``: ``auto`` (bubblewrap where it
    works, else the subprocess fallback, which warns once), ``bubblewrap`` (raise
    :class:`SandboxUnavailable` where it cannot run) or ``subprocess``. Never raises for
    anything the program does; a sandbox that cannot start gives status ``error``.
    """
    if not isinstance(source, str):
        raise fail("", "source", type(source).__name__, "must be a str of Python code")
    limits = SandboxLimits() if limits is None else limits
    return _run(source, stdin, limits, _resolve(isolation))


def run_many(sources: Sequence[str], *, stdin: str | Sequence[str] = "",
             limits: SandboxLimits | None = None, isolation: str = "auto",
             workers: int | None = None) -> list[SandboxResult]:
    """Run many programs, ``workers`` at a time on threads (each run is its own process tree
    with its own user id, so threads only wait); results in the order of ``sources``.
    ``stdin``: one text for all, or one per program. ``workers`` defaults to the CPU count."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    if not is_int(workers) or workers < 1:
        raise fail("", "workers", workers, "must be an integer >= 1")
    inputs = [stdin] * len(sources) if isinstance(stdin, str) else list(stdin)
    if len(inputs) != len(sources):
        raise fail("", "stdin", f"{len(inputs)} texts", f"must be one text or one per "
                   f"program ({len(sources)})")
    limits = SandboxLimits() if limits is None else limits
    mode = _resolve(isolation)
    if workers == 1 or len(sources) <= 1:
        return [_run(s, i, limits, mode) for s, i in zip(sources, inputs, strict=True)]
    with ThreadPoolExecutor(max_workers=min(workers, len(sources)),
                            thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda pair: _run(pair[0], pair[1], limits, mode),
                             zip(sources, inputs, strict=True)))
