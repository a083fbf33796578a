"""The run store: plain files, one directory per run, safe against kill -9 and shared use.

Layout::

    STORE/
      store.json                 {"format": "monarl-store", "version": 1}
      log.jsonl                  append-only events: start, done, failed (one JSON per line)
      sweeps/NAME.json           the experiment file and the run ids it expanded to
      runs/ID/config.json        the run's full normalized config (+ id and identity); also
                                 the run's lock (flock) while a process owns it
              metrics.jsonl      training metrics, appended while the run trains (only when
                                 the algorithm logs any; exact runs log none)
              heartbeat          pid, host, start and env steps of the owner, written while a
                                 run that reports progress trains (PPO; removed when it ends)
              summary.json       final metrics and provenance (command, versions, git
                                 commit, machine); written last (temp file, fsync, rename)

A run is done iff ``summary.json`` exists. Rules that make crashes and concurrency safe:

- Ownership is an exclusive ``flock`` on ``runs/ID/config.json``, taken by the process that
  computes the run, before it writes the file. The kernel drops it when that process dies,
  however it dies, so there are no stale locks to detect and no pid races. The file is never
  removed, so a lock can never be taken on a file another process has just unlinked; and a
  run costs one directory and two files (config, summary), which matters on short runs where
  creating a file is the store's main cost.
- After taking the lock the owner checks ``summary.json`` again, so a run finished by someone
  else in between is never redone.
- ``summary.json`` is written to a temporary file, made durable (fsync, or one ``syncfs`` for
  a batch of runs finishing together) and renamed into place: readers see no file or the
  whole file. ``metrics.jsonl`` of a run that restarts
  after a crash is truncated by the new owner; lines are appended with single ``write`` calls.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = {"format": "monarl-store", "version": 1}
HEARTBEAT = "heartbeat"


_LOG_FDS: dict[tuple[int, str], int] = {}
SYNC_EACH_UP_TO = 2
"""Batches of up to this many summaries fsync each file; larger ones sync the file system once."""
CLAIM_ATTEMPTS = 5
CLAIM_RETRY_SECONDS = 0.001
"""A claim retries its exclusive lock this often before it leaves the run to another owner: the
sweep's progress display takes a shared lock for a moment to see whether a run is busy
(``Store.is_busy``), and a claim that met it would skip a run nobody owns (it then ran alone
after its batch, with a second compilation and, for overseer approvals, a second overseer)."""


def _sync_filesystem(root: Path, files: list[Path]) -> None:
    """Make ``files`` durable: one ``syncfs`` of the store's file system on Linux, else an
    fsync per file."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = os.open(root, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class StoreError(ValueError):
    """Not a store, or a store that cannot be used."""


_COMPACT = (",", ":")
"""config.json and summary.json are one-line JSON: the C encoder (indentation selects the pure
Python one, several times slower), which matters on short runs; `python -m json.tool` or `jq`
pretty-prints them."""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: Path, data: Any, sync: bool = True) -> None:
    """Write JSON so that readers see either nothing/the old file or the whole new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    payload = (json.dumps(data, indent=1, allow_nan=True) + "\n").encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, payload)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync:
        _fsync_dir(path.parent)


def append_line(path: Path, data: dict[str, Any]) -> None:
    """Append one JSON line with a single O_APPEND write (whole lines, even when shared)."""
    line = (json.dumps(data, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class Claim:
    """Ownership of one run by this process (the open, flocked ``config.json``)."""

    def __init__(self, store: Store, run_id: str, fd: int):
        self.store = store
        self.run_id = run_id
        self.fd = fd
        self.dir = store.run_dir(run_id)
        self.started = now()
        self._info = {"pid": os.getpid(), "host": socket.gethostname(), "since": self.started}
        self._heartbeat_fd = -1

    def log(self, line: dict[str, Any]) -> None:
        append_line(self.dir / "metrics.jsonl", line)

    def progress(self, env_steps: int) -> None:
        """Heartbeat (``runs/ID/heartbeat``, created on the first call): the sweep's progress
        display reads the env steps of runs in flight from it."""
        if self.fd < 0:
            return
        data = json.dumps({**self._info, "env_steps": int(env_steps), "at": now()}).encode()
        with contextlib.suppress(OSError):
            if self._heartbeat_fd < 0:
                self._heartbeat_fd = os.open(
                    self.dir / HEARTBEAT, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644
                )
            os.ftruncate(self._heartbeat_fd, 0)
            os.pwrite(self._heartbeat_fd, data, 0)

    def finish(self, summary: dict[str, Any]) -> None:
        """Write summary.json (the run is done) and give the run up."""
        self.store.commit([(self, summary)])

    def fail(self, error: str) -> None:
        self.store.log(
            {
                "event": "failed",
                "run": self.run_id,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "time": now(),
                "error": error,
            }
        )
        self.release()

    def empty_heartbeat(self) -> None:
        """Empty the heartbeat before a sync: on ext4 mounted with ``discard``, removing a file
        whose bytes reached the disk costs ~1-4 ms (the freed block is trimmed synchronously)
        against ~10 us for one that never held data."""
        if self._heartbeat_fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._heartbeat_fd, 0)

    def release(self) -> None:
        """Give the run up: remove the heartbeat, close config.json (closing drops the flock)."""
        if self._heartbeat_fd >= 0:
            with contextlib.suppress(OSError):
                os.unlink(self.dir / HEARTBEAT)
            os.close(self._heartbeat_fd)
            self._heartbeat_fd = -1
        if self.fd < 0:
            return
        os.close(self.fd)
        self.fd = -1


class Store:
    """A run store rooted at ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()

    # paths
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def summary_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "summary.json"

    # state
    def exists(self) -> bool:
        return (self.root / "store.json").is_file() or self.runs_dir.is_dir()

    def check(self) -> None:
        """Raise StoreError unless ``root`` looks like a store."""
        if not self.root.exists():
            raise StoreError(f"{self.root}: no such store (run 'monarl sweep FILE' first)")
        if not self.root.is_dir() or not self.exists():
            raise StoreError(f"{self.root}: not a run store (expected store.json and runs/)")

    def init(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root} exists and is not a directory")
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "sweeps").mkdir(exist_ok=True)
        marker = self.root / "store.json"
        if not marker.exists():
            atomic_write_json(marker, FORMAT)

    def is_done(self, run_id: str) -> bool:
        return self.summary_path(run_id).is_file()

    def done_ids(self) -> set[str]:
        if not self.runs_dir.is_dir():
            return set()
        return {
            e.name
            for e in os.scandir(self.runs_dir)
            if e.is_dir() and os.path.isfile(os.path.join(e.path, "summary.json"))
        }

    def is_busy(self, run_id: str) -> bool:
        """True while another process (or another claim in this one) owns the run."""
        try:
            fd = os.open(self.run_dir(run_id) / "config.json", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return True
            raise
        finally:
            os.close(fd)
        return False

    def lock_info(self, run_id: str) -> dict[str, Any] | None:
        """The owner's last heartbeat (pid, host, since, env_steps, at), if it wrote one."""
        try:
            return json.loads((self.run_dir(run_id) / HEARTBEAT).read_text() or "null")
        except (OSError, ValueError):
            return None

    # ownership
    def claim(self, run_id: str, config: dict[str, Any]) -> Claim | None:
        """Own a run that is not done: returns None if it is done or owned by someone else.

        The new owner rewrites config.json (which it holds locked) and empties what a crashed
        owner left: metrics.jsonl, the heartbeat and temporary files.
        """
        run_dir = self.run_dir(run_id)
        summary = run_dir / "summary.json"
        if summary.exists():
            return None
        try:
            os.mkdir(run_dir)
            fresh = True
        except FileExistsError:
            fresh = False
        except FileNotFoundError:
            run_dir.mkdir(parents=True, exist_ok=True)
            fresh = True
        fd = os.open(run_dir / "config.json", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _lock_exclusive(fd)
        except OSError:
            os.close(fd)
            raise
        if not locked or summary.exists():
            os.close(fd)
            return None
        # config.json needs no temp file: only runs with a summary are ever trusted, and a
        # new owner rewrites it
        payload = (json.dumps(config, separators=_COMPACT) + "\n").encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload, 0)
        except OSError:
            os.close(fd)
            raise
        if not fresh:  # an earlier owner died: drop its partial metrics and leftovers
            with contextlib.suppress(FileNotFoundError):
                os.truncate(run_dir / "metrics.jsonl", 0)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(run_dir / HEARTBEAT)
            for stray in run_dir.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    stray.unlink()
        claim = Claim(self, run_id, fd)
        self.log(
            {
                "event": "start",
                "run": run_id,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "time": claim.started,
            }
        )
        return claim

    def commit(self, items: list[tuple[Claim, dict[str, Any]]]) -> None:
        """Finish runs together: write every summary to a temp file, make them durable with
        one file-system sync (or one fsync each for a few), then rename each into place.

        A sync per batch instead of an fsync per run is what keeps the store cheap for
        batched runs (the exact solver finishes hundreds at once). The renames are not synced:
        a rename lost in a power cut only means the run is redone, never a torn summary.
        """
        if not items:
            return
        for claim, _ in items:
            claim.empty_heartbeat()
        pending = []
        for claim, summary in items:
            final = claim.dir / "summary.json"
            tmp = final.with_name(f".summary.json.{os.getpid()}.{os.urandom(4).hex()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, (json.dumps(summary, separators=_COMPACT) + "\n").encode())
                if len(items) <= SYNC_EACH_UP_TO:
                    os.fsync(fd)
            finally:
                os.close(fd)
            pending.append((claim, tmp, final))
        if len(items) > SYNC_EACH_UP_TO:
            _sync_filesystem(self.root, [tmp for _, tmp, _ in pending])
        for claim, tmp, final in pending:
            os.replace(tmp, final)
            self.log(
                {
                    "event": "done",
                    "run": claim.run_id,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "time": now(),
                }
            )
            claim.release()

    # records
    def log(self, event: dict[str, Any]) -> None:
        """Append one event line to log.jsonl (one O_APPEND fd per process and store)."""
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        key = (os.getpid(), str(self.root))
        fd = _LOG_FDS.get(key)
        if fd is None:
            fd = os.open(self.root / "log.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _LOG_FDS[key] = fd
        os.write(fd, line)

    def events(self) -> Iterator[dict[str, Any]]:
        path = self.root / "log.jsonl"
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            if line.strip():
                yield json.loads(line)

    def write_sweep(self, name: str, data: dict[str, Any]) -> Path:
        path = self.root / "sweeps" / f"{name}.json"
        atomic_write_json(path, data, sync=False)
        return path

    def sweeps(self) -> list[dict[str, Any]]:
        folder = self.root / "sweeps"
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(path.read_text()))
        return out

    def read_json(self, run_id: str, name: str) -> Any:
        return json.loads((self.run_dir(run_id) / name).read_text())

    def read_metrics(self, run_id: str) -> list[dict[str, Any]]:
        path = self.run_dir(run_id) / "metrics.jsonl"
        if not path.exists():
            return []
        lines = []
        for line in path.read_text().splitlines():
            if line.strip():
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(line))
        return lines


def _lock_exclusive(fd: int) -> bool:
    """flock(LOCK_EX) without blocking, retried ``CLAIM_ATTEMPTS`` times ``CLAIM_RETRY_SECONDS``
    apart: a shared lock held for a moment by a busy-check is not an owner."""
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if attempt + 1 < CLAIM_ATTEMPTS:
            time.sleep(CLAIM_RETRY_SECONDS)
    return False
