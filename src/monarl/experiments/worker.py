"""What an executor runs: one task = runs of one configuration batched into one process call.

:func:`execute_task` is a plain top-level function of picklable data, so the same code runs
inline, in a local process pool and on Ray workers. It claims each run (skipping runs that are
done or owned by another process), runs the claimed ones through the algorithm's runner (seeds,
and for the exact solver horizons, batched), and writes each run's summary as soon as the runner
yields it. A failure leaves the unfinished runs without a summary (they are redone next time)
and is reported back, never raised, so one bad task does not stop a sweep.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from monarl.algos import TRAINERS
from monarl.experiments.spec import SCHEMA_VERSION, RunSpec
from monarl.experiments.store import Claim, Store, now


@dataclasses.dataclass(frozen=True)
class Task:
    store: str
    algo: str
    runs: tuple[RunSpec, ...]
    command: str = "monarl sweep"
    sweep: str = ""
    delay: float = 0.0
    """Test-only: seconds to sleep before each run's summary is written (see
    ``MONARL_TEST_RUN_DELAY`` in docs/experiments.md), so a kill can land mid-task."""


@dataclasses.dataclass
class TaskResult:
    done: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    """Runs already done or owned by another process when this task tried to claim them."""
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    wall_seconds: float = 0.0


_PROVENANCE: dict[str, Any] | None = None


def _provenance(command: str) -> dict[str, Any]:
    """Versions, git commit and machine, computed once per process (cheap afterwards)."""
    global _PROVENANCE
    if _PROVENANCE is None:
        from monarl.runtime.provenance import provenance

        _PROVENANCE = provenance()
    return {**_PROVENANCE, "command": command}


class _Context:
    def __init__(self, claims: dict[str, Claim]):
        self.claims = claims

    def log(self, run: RunSpec, line: dict[str, Any]) -> None:
        self.claims[run.run_id].log(line)

    def run_dir(self, run: RunSpec) -> Any:
        """The run's own folder in the store (a long run keeps its checkpoint there)."""
        claim = self.claims.get(run.run_id)
        return None if claim is None else claim.store.run_dir(run.run_id)

    def progress(self, runs: list[RunSpec], env_steps: int, **shown: str) -> None:
        for run in runs:
            claim = self.claims.get(run.run_id)
            if claim is not None and claim.fd >= 0:
                claim.progress(env_steps)


Commit = Callable[[Store, list[tuple[Claim, dict[str, Any]]]], None]
"""Writes finished runs' summaries and gives the claims up: ``Store.commit`` by default; the
in-process executor for short runs hands them to a writer thread (see
:class:`monarl.experiments.executors.MainThreadExecutor`)."""


def fail_claims(claims: Iterable[Claim], exc: BaseException) -> dict[str, str]:
    """Fail every claim of ``claims`` still held (the run is redone next time): log the failed
    event with the traceback and give the run up. Returns run id -> one-line error."""
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    detail = "".join(traceback.format_exception(exc))
    failed = {}
    for claim in claims:
        if claim.fd >= 0:
            claim.fail(detail)
            failed[claim.run_id] = error
    return failed


def execute_task(
    task: Task, commit: Commit | None = None, on_claimed: Callable[[], None] | None = None
) -> TaskResult:
    """Claim, run and commit the runs of ``task``. ``commit`` takes ownership of the claims it
    is given: they are released (or failed) by it, never here. ``on_claimed`` is called once
    the claims are taken, before any work."""
    started = time.perf_counter()
    store = Store(task.store)
    commit = commit or Store.commit
    result = TaskResult()
    algo = TRAINERS.get(task.algo)
    claims: dict[str, Claim] = {}
    runs: list[RunSpec] = []
    for run in task.runs:
        rid = run.run_id
        config = {
            "id": rid,
            "schema": SCHEMA_VERSION,
            "identity": run.identity(),
            "config": run.to_dict(),
        }
        claim = store.claim(rid, config)
        if claim is None:
            result.skipped.append(rid)
        else:
            claims[rid] = claim
            runs.append(run)
    if on_claimed is not None:
        on_claimed()
    if not runs:
        result.wall_seconds = time.perf_counter() - started
        return result
    provenance = _provenance(task.command)
    ctx = _Context(claims)
    batch_started = time.perf_counter()
    try:
        for item in algo.run(runs, ctx):
            batch_items = item if isinstance(item, list) else [item]
            summaries = []
            for run, final, info in batch_items:
                rid = run.run_id
                if task.delay:
                    time.sleep(task.delay)
                batch = dict(info.get("batch", {}))
                n = batch.get("runs") or len(runs)
                wall = batch.get("wall_seconds")
                summaries.append(
                    (
                        claims[rid],
                        {
                            "id": rid,
                            "schema": SCHEMA_VERSION,
                            "sweep": task.sweep,
                            "algo": run.algo,
                            "semantics": algo.semantics,
                            "config": run.to_dict(),
                            "final": final,
                            "info": {k: v for k, v in info.items() if k != "batch"},
                            "wall_seconds": (wall / n)
                            if wall
                            else (time.perf_counter() - batch_started),
                            "batch": batch,
                            "started": claims[rid].started,
                            "finished": now(),
                            "host": socket.gethostname(),
                            "pid": os.getpid(),
                            "provenance": provenance,
                        },
                    )
                )
            commit(store, summaries)
            result.done.extend(claim.run_id for claim, _ in summaries)
    except BaseException as exc:  # noqa: BLE001 - report, release, keep the sweep going
        handed = set(result.done)  # claims given to ``commit`` are its to fail
        result.failed.update(
            fail_claims((c for rid, c in claims.items() if rid not in handed), exc)
        )
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
    finally:
        handed = set(result.done)
        for rid, claim in claims.items():
            if rid not in handed:
                claim.release()
    missing = [
        rid
        for rid, c in claims.items()
        if c.fd < 0
        and rid not in result.done
        and rid not in result.failed
        and not store.is_done(rid)
    ]
    for rid in missing:  # a runner that silently skipped a run: say so
        result.failed[rid] = "the algorithm's runner returned no result for this run"
    result.wall_seconds = time.perf_counter() - started
    return result
