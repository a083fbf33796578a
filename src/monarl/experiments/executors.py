"""Executors: where tasks run. An executor has ``workers``, ``submit(task) -> Future`` and
``shutdown(cancel)``; the sweep loop needs nothing else (tests use a fake one).

- ``local`` (default): a process pool sized to the machine, ``spawn`` start method (JAX is not
  fork-safe). Workers die with the sweep (Linux ``PR_SET_PDEATHSIG``), so ``kill -9`` of the
  sweep stops its work too. With one worker, tasks run in a thread of the sweep process itself
  (no start-up cost, easiest to debug).
- ``ray``: Ray tasks (``pip install 'monarl[ray]'``), on a local Ray instance started for the
  sweep or on a cluster (``--address``). Every node must see the store at the same path.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
from typing import Protocol

from monarl.experiments.worker import Task, TaskResult, execute_task

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    workers: int

    def submit(self, task: Task) -> cf.Future: ...

    def shutdown(self, cancel: bool = False) -> None: ...


def machine_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


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


class LocalExecutor:
    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or machine_workers())
        if self.workers == 1:
            self._pool: cf.Executor = cf.ThreadPoolExecutor(1, thread_name_prefix="monarl-run")
        else:
            self._pool = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
            )

    def submit(self, task: Task) -> cf.Future:
        return self._pool.submit(execute_task, task)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel and isinstance(self._pool, cf.ProcessPoolExecutor):
            # terminate running workers instead of waiting for their tasks
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                with contextlib.suppress(OSError, AttributeError):
                    proc.kill()
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
