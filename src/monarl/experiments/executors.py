"""Executors: where tasks run. An executor has ``workers``, ``submit(task) -> Future`` and
``shutdown(cancel)``; the sweep loop needs nothing else (tests use a fake one).

- ``local`` (default): a process pool sized to the machine, ``spawn`` start method (JAX is not
  fork-safe). Workers die with the sweep (Linux ``PR_SET_PDEATHSIG``), so ``kill -9`` of the
  sweep stops its work too. With one worker, tasks run in the sweep process itself (no start-up
  cost, easiest to debug): light tasks (the exact solver) in its main thread, between progress
  updates, others in a thread so the display and Ctrl-C stay responsive during long runs.
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

from monarl.experiments.worker import Task, TaskResult, execute_task
from monarl.parallel import default_workers as machine_workers

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


class MainThreadExecutor:
    """Runs each task when it is submitted, in the calling (main) thread; the sweep loop submits
    one task at a time and updates the progress display in between (``synchronous``).

    Why not the worker thread: the exact solver allocates and frees tens of MB per call, and in a
    second thread those allocations come from another malloc arena, which returns them to the
    system and faults them back in on every call. On the 2-core machine the same exact-solver
    calls took a median 5-11 % longer in a thread than in the main thread (more page faults:
    ~31k against ~25k per 10-seed call), most of what the store and executor added to a sweep
    of short runs (benchmarks/bench_sweep.py). Light tasks are short, so a Ctrl-C waits at most
    one of them."""

    workers = 1
    synchronous = True

    def submit(self, task: Task) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(execute_task(task))
        except Exception as exc:  # noqa: BLE001 - handed to the sweep loop like a pool's
            fut.set_exception(exc)
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        pass


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
