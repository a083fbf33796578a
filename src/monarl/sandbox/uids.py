"""User ids for runs: one unprivileged id per concurrent run, and the processes it owns.

Why per run: RLIMIT_NPROC counts the processes of a *user id*, so two programs sharing one id
share one process budget (a fork bomb in one starves the other), and processes of one id may
signal each other. As root, each run leases an id from a high range no account uses
(61000-61999 by default, skipping ids that /etc/passwd names); the lease is held in-process
under a lock and across processes by ``flock`` on a file per id, so parallel test workers or
trainers on one machine never share an id. As an ordinary user there is nothing to switch to:
runs use the caller's own id, and the process limit is raised by the caller's current count
(:func:`task_count`) so it still bounds what the program itself may start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

FIRST_UID = 61000
POOL_SIZE = 1000
LOCK_DIR = Path("/run/monarl-sandbox")

_lock = threading.Lock()
_leased: set[int] = set()
_lock_dir_ok: bool | None = None


def can_switch_user() -> bool:
    """Only root can run a program as another user id."""
    return os.geteuid() == 0


def _named(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _lock_dir() -> Path | None:
    """The folder of per-id lock files (root-owned, not a link), or None to lock in-process
    only."""
    global _lock_dir_ok
    if _lock_dir_ok is None:
        try:
            LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
            info = LOCK_DIR.lstat()
            _lock_dir_ok = info.st_uid == os.geteuid() and LOCK_DIR.is_dir() \
                and not LOCK_DIR.is_symlink()
        except OSError:
            _lock_dir_ok = False
    return LOCK_DIR if _lock_dir_ok else None


def _try_file_lock(uid: int) -> int | None:
    """An open, exclusively locked file descriptor for ``uid``; -1 when locking across
    processes is unavailable; None when another process holds the id."""
    folder = _lock_dir()
    if folder is None:
        return -1
    fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def lease_uid() -> Iterator[int | None]:
    """A user id no other run holds, for the duration of the block; None when this process
    cannot switch user ids (not root)."""
    if not can_switch_user():
        yield None
        return
    chosen, fd = None, -1
    with _lock:
        for uid in range(FIRST_UID, FIRST_UID + POOL_SIZE):
            if uid in _leased or _named(uid):
                continue
            fd = _try_file_lock(uid)
            if fd is None:
                continue
            chosen = uid
            _leased.add(uid)
            break
    if chosen is None:
        raise RuntimeError(f"all {POOL_SIZE} sandbox user ids from {FIRST_UID} are in use")
    try:
        yield chosen
    finally:
        with _lock:
            _leased.discard(chosen)
            if fd >= 0:
                os.close(fd)


def _status(pid: str) -> dict[str, list[str]]:
    """The fields of /proc/PID/status that we read (empty when the process is gone)."""
    fields: dict[str, list[str]] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("State", "Uid", "Threads"):
                    fields[key] = value.split()
    except OSError:
        pass
    return fields


def pids_of(uid: int) -> dict[int, int]:
    """Live processes whose real or effective user id is ``uid``, with their thread counts.
    Read from /proc/PID/status, not the owner of /proc/PID: a process that makes itself
    non-dumpable shows as root there. Zombies are left out: they are dead already, and wait
    for their parent (or init) to reap them."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _status(entry.name)
            ids = fields.get("Uid", [])[:2]
            if str(uid) in ids and fields.get("State", ["Z"])[0] not in ("Z", "X"):
                found[int(entry.name)] = int((fields.get("Threads") or ["1"])[0])
    return found


def kill_all(uid: int, rounds: int = 50) -> int:
    """SIGKILL every process of ``uid`` until none is left (a process that forks while we
    kill is caught in a later round; the process limit bounds how many there can be).
    Returns how many were signalled."""
    killed = 0
    for _ in range(rounds):
        pids = pids_of(uid)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def task_count(uid: int) -> int:
    """Threads the user id has now: what RLIMIT_NPROC counts against a new process."""
    return sum(pids_of(uid).values())
