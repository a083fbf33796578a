"""Independent jobs side by side in threads, one per CPU: how a multi-arm protocol uses the
machine without changing any arm's numbers.

One jitted JAX program keeps about one core busy on CPU (the PPO update's small matrix
products run at one core's arithmetic limit and XLA does not split them across cores), so on
a 2-core machine two arms trained at once finish in much less wall time than one after the
other. Splitting one arm's seeds into two smaller programs would do the same, but a
different vmap batch changes the floating-point results in the last bits (and after a
million chaotic steps, outcomes), so monarl runs whole arms side by side instead: each arm is
the same program with the same inputs as when it runs alone, and XLA on CPU returns the same
bits whether or not another program runs next to it (tests/test_parallel.py).

Threads, not processes: JAX releases the GIL while a program runs, and the arms share the
parent's compiled-program cache and tables. The threads are daemons, so Ctrl-C stops the
protocol at once instead of waiting for running arms to finish.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any


def default_workers() -> int:
    """One thread per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def run_concurrently(jobs: Sequence[Callable[[], Any]], workers: int | None = None) -> list[Any]:
    """Run ``jobs`` with at most ``workers`` at a time (default: one per CPU), in order of the
    list as threads free up; return their results in the list's order. The first job to fail
    re-raises its exception here once every job has stopped (none is started after it)."""
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers={workers!r} is invalid: must be >= 1")
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    lock = threading.Lock()
    pending = list(range(len(jobs)))

    def worker() -> None:
        while True:
            with lock:
                if not pending or errors:
                    return
                index = pending.pop(0)
            try:
                results[index] = jobs[index]()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                with lock:
                    errors.append(exc)
                return

    if workers == 1 or len(jobs) <= 1:
        worker()
    else:
        threads = [threading.Thread(target=worker, daemon=True)
                   for _ in range(min(workers, len(jobs)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():  # join with a timeout, so Ctrl-C reaches this thread
                thread.join(0.2)
    if errors:
        raise errors[0]
    return results
