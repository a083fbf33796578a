"""Executors: where tasks run. An executor has ``workers``, ``submit(task) -> Future`` and
``shutdown(cancel)``; the sweep loop needs nothing else (tests use a fake one).

- ``local`` (default): a process pool sized to the machine, ``spawn`` start method (JAX is not
  fork-safe). Workers die with the sweep (Linux ``PR_SET_PDEATHSIG``), so ``kill -9`` of the
  sweep stops its work too. With one worker, tasks run in the sweep process itself (no start-up
  cost, easiest to debug): light tasks (the exact solver) in its main thread, between progress
  updates (their summaries written by a thread beside it), others in a thread so the display
  and Ctrl-C stay responsive during long runs.
- ``ray``: Ray tasks (``pip install 'monarl[ray]'``), on a local Ray instance started for the
  sweep or on a cluster (``--address``). Every node must see the store at the same path.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import queue
import signal
import threading
from typing import Protocol

from monarl.experiments.worker import Task, TaskResult, execute_task, fail_claims
from monarl.runtime.parallel import default_workers as machine_workers

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    workers: int

    def submit(self, task: Task) -> cf.Future: ...

    def shutdown(self, cancel: bool = False) -> None: ...


def _worker_init() -> None:
    """Runs first in every pool process: die with the parent; leave Ctrl-C to the parent."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class InlineExecutor:
    """Runs tasks one after another in a daemon thread of the sweep process, so the sweep's
    main thread stays free for the progress display and Ctrl-C never waits for a task."""

    workers = 1

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="monarl-run", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, task = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(execute_task(task))
            except BaseException as exc:  # noqa: BLE001 - handed to the sweep loop
                fut.set_exception(exc)

    def submit(self, task: Task) -> cf.Future:
        fut: cf.Future = cf.Future()
        self._queue.put((fut, task))
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            self._queue.put(None)
            return  # a running task dies with the process (daemon thread)
        self._queue.put(None)
        self._thread.join()


class _SummaryWriter:
    """A thread that commits the summaries of in-process tasks (``Store.commit``: files, sync,
    renames, log, releasing the claims) while the main thread computes the next task.

    A sweep of short runs spent a third or more of its store overhead here (on disk: creating
    the temp file, the file-system sync of the batch); off the main thread it overlaps with the
    next solve on the machine's other core. It waits while the main thread claims the next
    task's runs (:meth:`hold` / :meth:`go`): both are short Python work, and run at once they
    took turns on the interpreter lock, which doubled the claims' time; during the solve the
    main thread mostly waits in XLA without the lock. Each task's future resolves only after
    its summaries are committed, and a commit that fails marks its runs failed (and releases
    them), as a failed task would."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._open = threading.Event()
        self._open.set()
        self._thread = threading.Thread(target=self._loop, name="monarl-commit", daemon=True)
        self._thread.start()

    def commit_for(self, failures: dict[str, str]):
        """A ``commit`` for :func:`execute_task` that queues; errors go to ``failures``."""

        def commit(store, items) -> None:
            self._queue.put(("commit", store, items, failures))

        return commit

    def resolve(self, fut: cf.Future, result: TaskResult | None, failures: dict[str, str],
                error: BaseException | None = None) -> None:
        """Resolve ``fut`` once everything queued before this call is committed."""
        self._queue.put(("resolve", fut, result, failures, error))

    def hold(self) -> None:
        """Pause after the current item (the main thread is about to claim runs)."""
        self._open.clear()

    def go(self) -> None:
        self._open.set()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            self._open.wait()
            if item is None:
                return
            if item[0] == "commit":
                _, store, items, failures = item
                try:
                    store.commit(items)
                except Exception as exc:  # noqa: BLE001 - the runs fail, the sweep goes on
                    # those committed before the error are done (their claims released)
                    failures.update(fail_claims((claim for claim, _ in items), exc))
                continue
            _, fut, result, failures, error = item
            if error is not None:
                fut.set_exception(error)
                continue
            result.done = [rid for rid in result.done if rid not in failures]
            result.failed.update(failures)
            fut.set_result(result)

    def close(self) -> None:
        """Commit what is queued, then stop."""
        self.go()
        self._queue.put(None)
        self._thread.join()


class MainThreadExecutor:
    """Runs each task when it is submitted, in the calling (main) thread; the sweep loop submits
    one task per turn and updates the progress display in between (``synchronous``). The
    summaries are committed by a writer thread (:class:`_SummaryWriter`), so the next task's
    solve starts while the last one's files are written; ``submit`` returns a future that
    resolves when they are.

    Why the main thread computes, not a worker thread: the exact solver allocates and frees tens
    of MB per call, and in a second thread those allocations come from another malloc arena,
    which returns them to the system and faults them back in on every call. On the 2-core
    machine the same exact-solver calls took a median 5-11 % longer in a thread than in the
    main thread (more page faults: ~31k against ~25k per 10-seed call). Light tasks are short,
    so a Ctrl-C waits at most one of them."""

    workers = 1
    synchronous = True

    def __init__(self) -> None:
        self._writer = _SummaryWriter()

    def submit(self, task: Task) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        failures: dict[str, str] = {}
        self._writer.hold()
        try:
            result = execute_task(task, self._writer.commit_for(failures), self._writer.go)
        except BaseException as exc:  # noqa: BLE001 - handed to the sweep loop like a pool's
            self._writer.resolve(fut, None, failures, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self._writer.resolve(fut, result, failures)
        finally:
            self._writer.go()
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        """Finished runs are always committed, cancelled or not (it takes milliseconds)."""
        self._writer.close()


class LocalExecutor:
    def __init__(self, workers: int | None = None, light: bool = False):
        self.workers = max(1, workers or machine_workers())
        self.synchronous = self.workers == 1 and light
        if self.synchronous:
            self._pool: cf.Executor | InlineExecutor | MainThreadExecutor = MainThreadExecutor()
        elif self.workers == 1:
            self._pool = InlineExecutor()
        else:
            self._pool = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
            )

    def submit(self, task: Task) -> cf.Future:
        if isinstance(self._pool, InlineExecutor | MainThreadExecutor):
            return self._pool.submit(task)
        return self._pool.submit(execute_task, task)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel and isinstance(self._pool, cf.ProcessPoolExecutor):
            # terminate running workers instead of waiting for their tasks
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                with contextlib.suppress(OSError, AttributeError):
                    proc.kill()
        if isinstance(self._pool, InlineExecutor | MainThreadExecutor):
            self._pool.shutdown(cancel)
        else:
            self._pool.shutdown(wait=True, cancel_futures=cancel)


class RayExecutor:
    """Ray tasks, one CPU each. Starts a local Ray instance unless ``address`` is given."""

    def __init__(self, address: str | None = None, workers: int | None = None):
        import ray

        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            kwargs = {
                "include_dashboard": False,
                "log_to_driver": False,
                "ignore_reinit_error": True,
            }
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = workers or machine_workers()
            ray.init(**kwargs)
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(execute_task)
        self._refs: list = []

    def submit(self, task: Task) -> cf.Future:
        ref = self._remote.remote(task)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self._refs:
                with contextlib.suppress(Exception):  # best effort on the way out
                    self._ray.cancel(ref, force=True)
        if self._started:
            self._ray.shutdown()


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def make_executor(name: str, workers: int | None = None, address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers)
    raise ValueError(f"executor={name!r} is invalid: allowed are {', '.join(EXECUTORS)}")


__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "TaskResult",
    "make_executor",
    "machine_workers",
    "ray_available",
]
