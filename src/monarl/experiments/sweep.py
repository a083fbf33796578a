"""Run an expanded experiment against a store: plan tasks, execute, show progress, resume.

Planning: runs not yet done are grouped by everything but the algorithm's batch fields (seed;
for the exact solver also horizon; none for the language-model trainer, whose runs are each a
task), so one task runs a whole configuration's seeds in one vmapped call. When there are
fewer groups than workers, groups are split by seed so every worker has work. Runs that
another process owns (a second sweep on the same store) are skipped by the task and waited for
at the end; if their owner dies without finishing, they are run here.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import itertools
import os
import time
from collections import defaultdict

from monarl.algos import TRAINERS
from monarl.experiments.executors import Executor
from monarl.experiments.spec import RunSpec, Sweep
from monarl.experiments.store import Store, now
from monarl.experiments.worker import Task, TaskResult

POLL_SECONDS = 0.25
DELAY_ENV = "MONARL_TEST_RUN_DELAY"


def plan_tasks(
    runs: list[RunSpec],
    workers: int,
    store: str,
    command: str = "",
    sweep: str = "",
    delay: float = 0.0,
) -> list[Task]:
    """Group runs into tasks (see the module docstring)."""
    groups: dict[str, list[RunSpec]] = defaultdict(list)
    algos: dict[str, str] = {}
    for run in runs:
        algo = TRAINERS.get(run.algo)
        key = run.algo + ":" + algo.batch_key(run)
        groups[key].append(run)
        algos[key] = run.algo
    chunks: list[tuple[str, list[RunSpec]]] = [(k, v) for k, v in groups.items()]
    if 0 < len(chunks) < workers:
        per_group = -(-workers // len(chunks))
        split: list[tuple[str, list[RunSpec]]] = []
        for key, group in chunks:
            seeds = sorted({r.seed for r in group})
            parts = min(per_group, len(seeds))
            size = -(-len(seeds) // parts)
            for i in range(0, len(seeds), size):
                chosen = set(seeds[i : i + size])
                split.append((key, [r for r in group if r.seed in chosen]))
        chunks = split
    return [
        Task(
            store=store,
            algo=algos[key],
            runs=tuple(group),
            command=command,
            sweep=sweep,
            delay=delay,
        )
        for key, group in chunks
    ]


def _rate(speed: float) -> str:
    """A rate with the digits that matter: thousands of env steps per second for the JAX
    trainers, a fraction of an update per second for a language model ("0.20", not "0")."""
    if speed >= 100:
        return f"{speed:,.0f}"
    return f"{speed:.1f}" if speed >= 10 else f"{speed:.2f}"


@dataclasses.dataclass
class SweepOutcome:
    total: int
    already_done: int
    done_here: int = 0
    done_elsewhere: int = 0
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    wall_seconds: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


class _Progress:
    """rich live display: runs done / total, steps/s (or runs/s), elapsed, ETA.

    It looks at the files of runs in flight only (a task's summaries can appear before the task
    returns; a PPO run's heartbeat holds its env steps), at most every ``POLL_SECONDS``: polling
    every pending run on every turn of the sweep loop cost a quadratic ~0.15 ms per run on a
    100-run sweep of short runs. Quiet mode does none of it."""

    def __init__(self, store: Store, runs: list[RunSpec], quiet: bool, console=None):
        self.store = store
        self.quiet = quiet
        self.pending = {r.run_id for r in runs}
        self.steps_per_run = {r.run_id: TRAINERS.get(r.algo).steps(r) for r in runs}
        self.uses_steps = all(s for s in self.steps_per_run.values()) and bool(runs)
        self.total_runs = len(runs)
        self.done = 0
        self.done_work = 0
        # (time, work) points for the rate; the start counts, so the first rate is not taken
        # between two results that arrived together
        self.history: list[tuple[float, float]] = [(time.perf_counter(), 0.0)]
        self._last_poll = float("-inf")
        self._bar = None
        if not quiet:
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]sweep[/]"),
                BarColumn(),
                TextColumn("{task.fields[runs]} runs"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            total = sum(self.steps_per_run.values()) if self.uses_steps else self.total_runs
            self._task = self._bar.add_task("sweep", total=total, runs=f"0/{len(runs)}", rate="")
            self._bar.start()

    def finished(self, run_ids) -> None:
        """Count runs as done (from task results, or done by another process)."""
        for rid in run_ids:
            if rid in self.pending:
                self.pending.discard(rid)
                self.done += 1
                self.done_work += self.steps_per_run[rid] or 0

    def poll(self, in_flight=(), force: bool = False) -> None:
        """Refresh the display; ``in_flight``: ids of runs that may be progressing right now."""
        if self.quiet and not force:
            return
        t = time.perf_counter()
        if not force and t - self._last_poll < POLL_SECONDS:
            return
        self._last_poll = t
        live = [rid for rid in in_flight if rid in self.pending]
        self.finished([rid for rid in live if self.store.is_done(rid)])
        if self.uses_steps:
            work = self.done_work
            for rid in live:
                if rid not in self.pending:
                    continue
                info = self.store.lock_info(rid) if self.store.is_busy(rid) else None
                if info and "env_steps" in info:
                    work += min(int(info["env_steps"]), self.steps_per_run[rid])
        else:
            work = self.done
        self.history.append((t, float(work)))
        self.history = [(a, b) for a, b in self.history if t - a <= 30] or self.history[-1:]
        rate = ""
        if len(self.history) > 1 and self.history[-1][0] > self.history[0][0]:
            speed = (self.history[-1][1] - self.history[0][1]) / (
                self.history[-1][0] - self.history[0][0]
            )
            rate = f"{_rate(speed)} steps/s" if self.uses_steps else f"{speed:.1f} runs/s"
        if self._bar is not None:
            self._bar.update(
                self._task, completed=work, runs=f"{self.done}/{self.total_runs}", rate=rate
            )

    def stop(self) -> None:
        if self._bar is not None:
            self.poll(force=True)
            self._bar.stop()


def run_sweep(
    sweep: Sweep,
    store: Store,
    executor_factory,
    quiet: bool = False,
    command: str = "monarl sweep",
    console=None,
    echo=print,
) -> SweepOutcome:
    """Run every run of ``sweep`` that ``store`` does not have yet.

    ``executor_factory(n_tasks, light) -> Executor`` is called only when there is work to do
    (``light``: every task is of a light algorithm, see :func:`local_factory`).
    """
    started = time.perf_counter()
    store.init()
    store.write_sweep(
        sweep.name,
        {
            "name": sweep.name,
            "file": str(sweep.path.absolute()) if sweep.path else None,
            "source": sweep.source,
            "updated": now(),
            "runs": sweep.ids,
            "variants": sweep.variants,
            "axes": {k: v for k, v in sweep.axes.items()},
        },
    )
    done = store.done_ids()
    pending = [r for r in sweep.runs if r.run_id not in done]
    outcome = SweepOutcome(total=len(sweep.runs), already_done=len(sweep.runs) - len(pending))
    if not quiet:
        extra = f" ({sweep.duplicates} duplicates merged)" if sweep.duplicates else ""
        echo(
            f"{sweep.name}: {outcome.total} runs ({sweep.describe()}){extra}; "
            f"{outcome.already_done} already done, {len(pending)} to run; store {store.root}"
        )
    if not pending:
        outcome.wall_seconds = time.perf_counter() - started
        return outcome
    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    probe_tasks = plan_tasks(pending, 1, str(store.root))
    light = all(TRAINERS.get(t.algo).light for t in probe_tasks)
    executor: Executor = executor_factory(len(probe_tasks), light)
    tasks = plan_tasks(pending, executor.workers, str(store.root), command, sweep.name, delay)
    if not quiet:
        echo(
            f"executor: {type(executor).__name__} with {executor.workers} worker(s), "
            f"{len(tasks)} task(s)"
        )
    progress = _Progress(store, pending, quiet, console)
    waiting: dict[str, RunSpec] = {}
    futures: dict[cf.Future, Task] = {}
    # A synchronous executor runs a task inside submit(): feed it one task per loop turn so the
    # progress display moves between tasks, and keep at most one more outstanding (the one
    # whose summaries its writer thread is committing); others get every task at once.
    backlog = list(tasks)
    synchronous = bool(getattr(executor, "synchronous", False))

    def feed() -> None:
        while backlog and not (synchronous and len(futures) >= 2):
            task = backlog.pop(0)
            futures[executor.submit(task)] = task

    try:
        feed()
        while futures or waiting or backlog:
            feed()
            if futures:
                finished, _ = cf.wait(
                    list(futures), timeout=POLL_SECONDS, return_when=cf.FIRST_COMPLETED
                )
            else:
                finished = set()
                time.sleep(POLL_SECONDS)
            for fut in finished:
                task = futures.pop(fut)
                try:
                    result: TaskResult = fut.result()
                except Exception as exc:  # noqa: BLE001 - a crashed worker process
                    result = TaskResult(
                        failed={
                            r.run_id: f"{type(exc).__name__}: {exc}"
                            for r in task.runs
                            if not store.is_done(r.run_id)
                        }
                    )
                outcome.done_here += len(result.done)
                outcome.failed.update(result.failed)
                progress.finished(result.done)
                by_id = {r.run_id: r for r in task.runs}
                for rid in result.skipped:
                    if not store.is_done(rid):
                        waiting[rid] = by_id[rid]
                    else:
                        progress.finished([rid])
            # runs owned by another process: wait; take over if their owner died unfinished
            orphans = []
            for rid, run in list(waiting.items()):
                if store.is_done(rid):
                    del waiting[rid]
                    outcome.done_elsewhere += 1
                    progress.finished([rid])
                elif not store.is_busy(rid):
                    del waiting[rid]
                    orphans.append(run)
            backlog.extend(
                plan_tasks(orphans, executor.workers, str(store.root), command, sweep.name, delay)
            )
            # a generator: built only when the display does poll (not when quiet or throttled)
            progress.poll(
                itertools.chain((r.run_id for t in futures.values() for r in t.runs), waiting)
            )
    except KeyboardInterrupt:
        outcome.interrupted = True
        executor.shutdown(cancel=True)
    else:
        executor.shutdown()
    finally:
        with contextlib.suppress(Exception):
            progress.stop()
    outcome.wall_seconds = time.perf_counter() - started
    return outcome


LIGHT_TASKS_PER_WORKER = 8


def local_factory(workers: int | None):
    """Executor factory for ``--executor local``. Without ``--workers``: one process per CPU,
    never more than tasks, and for light algorithms (the exact solver) one worker per
    ``LIGHT_TASKS_PER_WORKER`` tasks, because starting a worker process (import JAX, build
    tables, compile) costs more than a few light tasks; one worker runs in-process."""
    from monarl.experiments.executors import LocalExecutor, machine_workers

    def factory(n_tasks: int, light: bool = False) -> Executor:
        if workers is not None:
            return LocalExecutor(workers, light)
        wanted = n_tasks // LIGHT_TASKS_PER_WORKER if light else n_tasks
        return LocalExecutor(max(1, min(machine_workers(), wanted)), light)

    return factory


def ray_factory(address: str | None, workers: int | None):
    def factory(n_tasks: int, light: bool = False) -> Executor:
        from monarl.experiments.executors import RayExecutor

        return RayExecutor(address, workers)

    return factory


def describe_outcome(outcome: SweepOutcome, store: Store) -> str:
    parts = [
        f"{outcome.already_done + outcome.done_here + outcome.done_elsewhere}/"
        f"{outcome.total} runs done"
    ]
    if outcome.done_here:
        parts.append(f"{outcome.done_here} run here")
    if outcome.done_elsewhere:
        parts.append(f"{outcome.done_elsewhere} by another process")
    parts.append(f"{outcome.wall_seconds:.1f} s")
    return ", ".join(parts) + f"; store {store.root}"
