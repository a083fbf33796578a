"""Sweeps end to end: run, resume, identical numbers to `monarl solve`, kill -9 and restart,
two sweeps sharing one store, executors."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from monarl.cli.app import main
from monarl.experiments import sweep as sweep_mod
from monarl.experiments.spec import load_sweep, parse_sweep
from monarl.experiments.store import Store
from monarl.experiments.worker import Task, execute_task

SMALL = """
name = "small-horizon-sweep"
[base]
algo = "exact"
seeds = 3
[base.approval]
kind = "trusted"
[sweep]
"approval.noise" = [0.0, 0.5]
horizon = {range = [1, 6]}
"""


def _write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _done_events(store: Path) -> Counter:
    events = [json.loads(line) for line in (store / "log.jsonl").read_text().splitlines()]
    return Counter(e["run"] for e in events if e["event"] == "done")


def _check_store(store: Path, ids: list[str]) -> None:
    """Every run finished exactly once, with intact JSON files and no leftovers."""
    done = _done_events(store)
    assert set(done) == set(ids) and set(done.values()) == {1}, done.most_common(3)
    for rid in ids:
        run_dir = store / "runs" / rid
        summary = json.loads((run_dir / "summary.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())
        assert summary["id"] == config["id"] == rid
        assert set(summary["final"]) >= {
            "fail",
            "intended",
            "hack",
            "observed_return",
            "true_return",
        }
        assert not (run_dir / "heartbeat").exists()
        assert not list(run_dir.glob(".*.tmp"))


def test_smoke_sweep_report_and_identical_numbers(tmp_path, capsys):
    """sweep + report through the CLI; the report's numbers equal `monarl solve`'s."""
    path = _write(tmp_path, SMALL)
    assert main(["sweep", str(path)]) == 0
    out = capsys.readouterr().out
    assert "36 runs (2 approval.noise x 6 horizon x 3 seed)" in out
    assert "0 already done, 36 to run" in out
    store = tmp_path / "exp.store"
    sweep = load_sweep(path)
    _check_store(store, sweep.ids)

    # resume: nothing left to do
    assert main(["sweep", str(path)]) == 0
    assert "36 already done, 0 to run" in capsys.readouterr().out

    out_dir = tmp_path / "report"
    assert (
        main(["report", str(path), "--out", str(out_dir), "--json", str(tmp_path / "r.json")]) == 0
    )
    for name in ("report.md", "report.html", "report.json", "horizon-1.png", "horizon-2.png"):
        assert (out_dir / name).stat().st_size > 0, name
    md = (out_dir / "report.md").read_text()
    assert "## Outcomes against the optimization horizon M" in md
    assert "### approval.noise=0.5" in md and "## Provenance" in md
    html = (out_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and 'src="horizon' not in html
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["runs"] == 36 and data["varying"] == ["approval.noise", "horizon"]

    assert (
        main(
            [
                "solve",
                "--approval",
                "trusted",
                "--noise",
                "0.5",
                "--seeds",
                "3",
                "--horizons",
                "1-6",
                "--json",
                str(tmp_path / "solve.json"),
                "--quiet",
            ]
        )
        == 0
    )
    solve = json.loads((tmp_path / "solve.json").read_text())
    panel = next(p for p in data["horizon_studies"] if p["label"] == "approval.noise=0.5")
    rows = [{k: v for k, v in row.items() if k != "seeds"} for row in panel["study"]["results"]]
    assert rows == solve["results"]  # identical, not approximately equal


class FakeExecutor:
    """Runs tasks synchronously and records them (the executor interface, no processes)."""

    def __init__(self, workers: int = 2):
        self.workers = workers
        self.tasks: list[Task] = []

    def submit(self, task: Task) -> cf.Future:
        self.tasks.append(task)
        fut: cf.Future = cf.Future()
        fut.set_result(execute_task(task))
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        pass


def test_fake_executor_gets_one_task_per_configuration(tmp_path):
    sweep = parse_sweep(SMALL, tmp_path / "s.toml")
    fake = FakeExecutor(workers=2)
    outcome = sweep_mod.run_sweep(sweep, Store(tmp_path / "st"), lambda n, light: fake, quiet=True)
    assert outcome.ok and outcome.done_here == 36
    # 2 configurations (noise levels) x (6 horizons x 3 seeds) batched in one call each
    assert len(fake.tasks) == 2
    assert sorted(len(t.runs) for t in fake.tasks) == [18, 18]
    # with more workers than configurations, configurations are split by seed
    tasks = sweep_mod.plan_tasks(sweep.runs, 4, "st")
    assert len(tasks) == 4 and sum(len(t.runs) for t in tasks) == 36
    for task in tasks:
        assert len({r.approval.noise for r in task.runs}) == 1
    _check_store(tmp_path / "st", sweep.ids)


def test_language_model_runs_are_one_task_each_so_workers_start_on_different_seeds(tmp_path):
    """The grpo trainer trains seeds one after another; batching them made two variants' tasks
    both start at seed 0, and one worker waited on the other's pretraining of that seed."""
    sweep = parse_sweep(
        """
name = "lm"
[base]
algo = "grpo"
seeds = 3
[base.env]
name = "loan-text"
[base.grpo]
model = "tiny"
total_steps = 2
[variants.plain]
[variants.inoculated]
"grpo.inoculation" = true
""",
        tmp_path / "lm.toml",
    )
    tasks = sweep_mod.plan_tasks(sweep.runs, 2, "st")
    assert [len(t.runs) for t in tasks] == [1] * 6
    assert sorted(t.runs[0].run_id for t in tasks) == sorted(sweep.ids)
    first_two = [t.runs[0] for t in tasks[:2]]
    assert first_two[0].seed != first_two[1].seed
    # the same seed's two variants are as far apart in the queue as the sweep allows
    order = [(t.runs[0].seed, t.runs[0].settings.inoculation) for t in tasks]
    assert order == [(0, False), (1, False), (2, False), (0, True), (1, True), (2, True)]


def test_a_failing_run_is_reported_and_redone(tmp_path, monkeypatch, capsys):
    sweep = parse_sweep(SMALL, tmp_path / "s.toml")
    store = Store(tmp_path / "st")
    from monarl.algos.exact import runner

    calls = []
    original = runner.run

    def flaky(runs, ctx):
        calls.append(len(runs))
        if len(calls) == 1:
            raise RuntimeError("solver exploded")
        yield from original(runs, ctx)

    # the exact trainer is light: its batches run in this process, through runner.run
    monkeypatch.setattr(runner, "run", flaky)
    outcome = sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    assert len(outcome.failed) == 18 and outcome.done_here == 18
    assert "solver exploded" in next(iter(outcome.failed.values()))
    failed_id = next(iter(outcome.failed))
    assert not store.is_done(failed_id) and not store.is_busy(failed_id)
    outcome = sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    assert outcome.ok and outcome.already_done == 18 and outcome.done_here == 18


def _sweep_cmd(path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "monarl.cli.app", "sweep", str(path), "--quiet", *extra]


def _env(delay: float) -> dict[str, str]:
    env = dict(os.environ)
    env[sweep_mod.DELAY_ENV] = str(delay)
    return env


def test_sigkill_mid_sweep_then_restart_finishes_every_run_once(tmp_path):
    """A real `monarl sweep` subprocess (process pool of 2) is SIGKILLed once some summaries
    exist; the restart redoes only the unfinished runs."""
    # 6 configurations of 6 runs: each worker commits several batches
    text = SMALL.replace("[0.0, 0.5]", "[0.0, 0.1, 0.2, 0.3, 0.4, 0.5]")
    text = text.replace("seeds = 3", "seeds = 2").replace("[1, 6]", "[1, 3]")
    path = _write(tmp_path, text)
    store = tmp_path / "exp.store"
    ids = load_sweep(path).ids
    assert len(ids) == 36
    proc = subprocess.Popen(
        _sweep_cmd(path, "--workers", "2"),
        env=_env(0.1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    done_before = 0
    while time.monotonic() < deadline:
        if store.exists():
            done_before = len(Store(store).done_ids())
            if done_before >= 6:
                break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    time.sleep(0.5)  # workers die with the sweep (PDEATHSIG)
    partial = Store(store).done_ids()
    assert 6 <= len(partial) < len(ids), "the kill must land mid-sweep"
    for rid in partial:  # finished runs are intact
        json.loads((store / "runs" / rid / "summary.json").read_text())

    result = subprocess.run(
        _sweep_cmd(path), env=_env(0), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    _check_store(store, ids)


def test_two_concurrent_sweeps_share_a_store_without_duplicates(tmp_path):
    path = _write(tmp_path, SMALL)
    other = _write(tmp_path, SMALL.replace("seeds = 3", "seeds = 4"), "other.toml")
    store = tmp_path / "shared.store"
    procs = [
        subprocess.Popen(
            _sweep_cmd(p, "--store", str(store), "--workers", "1"),
            env=_env(0.02),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in (path, other)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    ids = sorted(set(load_sweep(path).ids) | set(load_sweep(other).ids))
    assert len(ids) == 48
    _check_store(store, ids)
    pids = Counter(
        json.loads((store / "runs" / rid / "summary.json").read_text())["pid"] for rid in ids
    )
    assert sum(pids.values()) == 48


def test_a_failing_summary_commit_in_the_writer_thread_fails_its_runs_only(tmp_path, monkeypatch):
    """Short runs are committed by a writer thread while the next task computes: a commit that
    raises there fails (and releases) its runs like a failed task, the other task's runs are
    done, and a rerun finishes the failed ones."""
    sweep = parse_sweep(SMALL, tmp_path / "s.toml")
    store = Store(tmp_path / "st")
    original = Store.commit
    calls = []

    def flaky(self, items):
        calls.append(len(items))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        original(self, items)

    monkeypatch.setattr(Store, "commit", flaky)
    outcome = sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    assert len(outcome.failed) == 18 and outcome.done_here == 18, outcome
    assert "No space left on device" in next(iter(outcome.failed.values()))
    for rid in outcome.failed:
        assert not store.is_done(rid) and not store.is_busy(rid)
    events = Counter(e["event"] for e in store.events())
    assert events["failed"] == 18 and events["done"] == 18
    outcome = sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    assert outcome.ok and outcome.already_done == 18 and outcome.done_here == 18
    _check_store(tmp_path / "st", sweep.ids)


def test_progress_counts_results_and_looks_only_at_runs_in_flight(tmp_path):
    sweep = parse_sweep(SMALL, tmp_path / "s.toml")
    store = Store(tmp_path / "st")
    store.init()
    first, second, third = sweep.runs[:3]
    for run in (first, second):
        store.claim(run.run_id, {"id": run.run_id}).finish({"id": run.run_id})
    progress = sweep_mod._Progress(store, sweep.runs, quiet=True)
    progress.poll([second.run_id], force=True)  # its summary appeared mid-task
    assert progress.done == 1 and first.run_id in progress.pending
    progress.finished([first.run_id, second.run_id, third.run_id])  # a task's results
    assert progress.done == 3 and progress.pending.isdisjoint(
        {first.run_id, second.run_id, third.run_id}
    )
    progress.store = None  # quiet and not forced: touches nothing (None would raise)
    progress.poll([r.run_id for r in sweep.runs])
    assert progress.done == 3


@pytest.mark.parametrize(("workers", "light"), [(1, False), (1, True), (2, False)])
def test_local_executor_runs_tasks(tmp_path, workers, light):
    from monarl.experiments.executors import LocalExecutor

    sweep = parse_sweep(SMALL.replace("seeds = 3", "seeds = 1"), tmp_path / "s.toml")
    store = Store(tmp_path / "st")
    store.init()
    executor = LocalExecutor(workers, light)
    assert executor.synchronous == (workers == 1 and light)
    try:
        tasks = sweep_mod.plan_tasks(sweep.runs, workers, str(store.root))
        results = [executor.submit(t).result(timeout=300) for t in tasks]
    finally:
        executor.shutdown()
    assert sum(len(r.done) for r in results) == 12
    assert store.done_ids() == set(sweep.ids)


@pytest.mark.slow
def test_ray_executor_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    path = _write(tmp_path, SMALL.replace("seeds = 3", "seeds = 2"))
    assert main(["sweep", str(path), "--executor", "ray", "--workers", "2", "--quiet"]) == 0
    _check_store(tmp_path / "exp.store", load_sweep(path).ids)


def test_runs_from_an_older_semantics_version_are_redone_and_left_out_of_reports(tmp_path):
    """A run whose summary predates its algorithm's current semantics version (here: written
    the way monarl wrote it before the approval fix, under the old id and without the
    ``semantics`` key) is neither taken as done by a sweep nor shown by a report."""
    from monarl.experiments.query import load_runs
    from monarl.experiments.spec import run_id
    from monarl.reports.report import build_report

    path = _write(tmp_path, SMALL)
    sweep = load_sweep(path)
    store = Store(tmp_path / "exp.store")
    assert main(["sweep", str(path), "--quiet"]) == 0
    first = sweep.runs[0]
    summary = store.read_json(first.run_id, "summary.json")
    assert summary["semantics"] == 2
    old_id = run_id({k: v for k, v in first.identity().items() if k != "semantics"})
    old_dir = store.run_dir(old_id)
    old_dir.mkdir()
    summary.pop("semantics")
    summary["id"] = old_id
    (old_dir / "summary.json").write_text(json.dumps(summary))
    stale: list[str] = []
    runs = load_runs(store, stale=stale)
    assert stale == [old_id] and len(runs) == len(sweep.runs)
    data = build_report(store)
    assert data["stale_runs"] == 1 and data["runs"] == len(sweep.runs)


def test_a_momentary_busy_check_does_not_make_a_claim_skip_the_run(tmp_path, monkeypatch):
    """The progress display's busy-check holds a shared lock for an instant; a claim that meets
    it retries instead of leaving the run to an owner that does not exist. Deterministic: the
    shared lock is released at the claim's first retry."""
    import fcntl
    import os

    from monarl.experiments import store as store_mod

    store = store_mod.Store(tmp_path / "store")
    store.init()
    run_dir = store.run_dir("abc")
    run_dir.mkdir(parents=True)
    peek = os.open(run_dir / "config.json", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(peek, fcntl.LOCK_SH | fcntl.LOCK_NB)  # what is_busy holds for a moment
    sleeps = []

    def release(seconds):
        sleeps.append(seconds)
        fcntl.flock(peek, fcntl.LOCK_UN)

    monkeypatch.setattr(store_mod.time, "sleep", release)
    claim = store.claim("abc", {"x": 1})
    assert claim is not None and sleeps == [store_mod.CLAIM_RETRY_SECONDS]
    claim.release()
    os.close(peek)
    monkeypatch.undo()
    # a real owner (an exclusive lock that stays) still makes the claim give up, after retries
    owner = store.claim("def", {"x": 2})
    assert owner is not None
    assert store.claim("def", {"x": 2}) is None
    owner.release()


def test_the_progress_rate_keeps_the_digits_that_matter():
    """A language-model sweep does a fraction of an update per second: "0.20", not "0"."""
    from monarl.experiments.sweep import _rate

    assert [_rate(x) for x in (0.2, 3.456, 12.34, 6221.7)] == ["0.20", "3.46", "12.3", "6,222"]
