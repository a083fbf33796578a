"""Reports (tables, curves, HTML, JSON) and querying a store."""

from __future__ import annotations

import dataclasses
import json

import pytest

from monarl.algos import TRAINERS
from monarl.cli.app import main
from monarl.core.config import ConfigError
from monarl.core.protocols import TrainerSpec
from monarl.experiments import query
from monarl.experiments import spec as spec_mod
from monarl.experiments import sweep as sweep_mod
from monarl.experiments.spec import parse_sweep
from monarl.experiments.store import Store
from monarl.reports.report import build_report, write_report


@dataclasses.dataclass(frozen=True)
class CurveSettings:
    total_steps: int = 300
    skill: float = 0.5

    def validate(self, section: str = "curvy") -> None:
        if self.total_steps < 100:
            raise ConfigError(f"{section}.total_steps={self.total_steps!r} is invalid: >= 100")


@dataclasses.dataclass(frozen=True)
class ScoredSettings(CurveSettings):
    inoculation: bool = False


def _run_curvy(runs, ctx):
    """A stand-in learner: logs evaluation points, then yields final metrics."""
    for run in runs:
        s = run.settings
        hack = 0.0 if run.approval.kind == "trusted" else s.skill
        for step in range(0, s.total_steps + 1, 100):
            frac = step / s.total_steps
            ctx.progress([run], step)
            ctx.log(
                run,
                {
                    "env_steps": step,
                    "fail": 1 - frac,
                    "intended": frac * (1 - hack),
                    "hack": frac * hack + 0.01 * run.seed,
                    "observed_return": frac,
                    "true_return": frac - hack,
                },
            )
        final = {
            "fail": 0.0,
            "intended": 1 - hack,
            "hack": hack + 0.01 * run.seed,
            "observed_return": 1.0,
            "true_return": 1 - hack,
        }
        yield run, final, {}


@pytest.fixture()
def curvy():
    """A trainer registered at run time (in this process only: the sweep runs in-process)."""
    algo = TRAINERS.register(TrainerSpec(
        name="curvy",
        summary="test learner",
        section="curvy",
        settings=CurveSettings,
        runner=f"{__name__}:_run_curvy",
        steps=lambda run: run.settings.total_steps,
    ))
    yield algo
    TRAINERS._loaded.pop("curvy", None)
    spec_mod._DEFAULTS.pop("curvy", None)


CURVY = """
name = "arms"
[base]
algo = "curvy"
horizon = 1
seeds = 3
[variants.ordinary]
"approval.kind" = "none"
horizon = "none"
[variants.mona]
"approval.kind" = "trusted"
"""


def test_report_with_training_curves(curvy, tmp_path):
    sweep = parse_sweep(CURVY, tmp_path / "arms.toml")
    store = Store(tmp_path / "arms.store")
    outcome = sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    assert outcome.ok and outcome.done_here == 6
    rid = sweep.ids[0]
    lines = store.read_metrics(rid)
    assert [ln["env_steps"] for ln in lines] == [0, 100, 200, 300]

    data = build_report(store, sweep.ids, sweep.variants, "arms")
    labels = sorted(c["label"] for c in data["conditions"])
    assert labels == [
        "mona: approval.kind=trusted, horizon=1",
        "ordinary: approval.kind=none, horizon=none",
    ]
    ordinary = next(c for c in data["conditions"] if c["variant"] == "ordinary")
    assert ordinary["seeds"] == [0, 1, 2]
    hack = ordinary["metrics"]["hack"]
    assert hack["per_seed"] == [0.5, 0.51, 0.52]
    assert hack["mean"] == pytest.approx(0.51)
    assert hack["ci95"][0] <= 0.51 <= hack["ci95"][1]
    assert data["horizon_studies"] == []  # two conditions: table per condition, no M plot
    assert len(data["curves"]) == 2
    curve = data["curves"][0]
    assert curve["env_steps"] == [0, 100, 200, 300] and len(curve["hack"]["mean"]) == 4

    paths = write_report(data, tmp_path / "out", tmp_path / "numbers.json")
    md = paths["report"].read_text()
    assert "## Final results per condition" in md and "## Training curves" in md
    assert "| mona: approval.kind=trusted, horizon=1 | 3 |" in md
    assert (tmp_path / "out" / "curves-1.png").stat().st_size > 10_000
    html = paths["html"].read_text()
    # the training curves and, since ordinary RL and MONA are two approval families, the
    # spectrum's frontier plot
    assert html.count("data:image/png;base64,") == 2
    assert "## Approval spectrum" in md
    assert json.loads((tmp_path / "numbers.json").read_text())["conditions"]


def _run_scored(runs, ctx):
    """A stand-in learner with metrics-style results (no outcome shares), logging as the
    language-model trainer does: a training line every update (``loss``) and an evaluation
    line (``score``) every second update, both at the same step when they coincide."""
    for run in runs:
        ctx.log(run, {"env_steps": 0, "update": 0, "score": 0.0})
        for update in (1, 2, 3):
            ctx.log(run, {"env_steps": update, "update": update, "loss": 1.0 / update})
            if update == 2:
                ctx.log(run, {"env_steps": 2, "update": 2, "score": 0.2 + 0.01 * run.seed})
        ctx.progress([run], run.settings.total_steps)
        lift = 0.1 if run.settings.inoculation else 0.0
        # as the language-model trainer says of a MONA run: updates with ordinary RL's advantages
        info = {} if run.horizon is None else {"updates": 3, "updates_like_ordinary": 2}
        yield run, {"score": 0.5 + 0.01 * run.seed + lift, "loss": 1 / 3}, info


@pytest.fixture()
def scored():
    TRAINERS.register(TrainerSpec(
        name="scored",
        summary="test learner with metrics-style results",
        section="scored",
        settings=ScoredSettings,
        runner=f"{__name__}:_run_scored",
        steps=lambda run: run.settings.total_steps,
    ))
    yield
    TRAINERS._loaded.pop("scored", None)
    spec_mod._DEFAULTS.pop("scored", None)


@pytest.mark.parametrize("seeds", [1, 2])
def test_ordinary_rl_vs_mona_interval_only_when_both_arms_have_seeds_to_resample(
    scored, tmp_path, seeds
):
    """One seed per arm gives a difference without a bracket (a zero-width bracket would read
    as certainty); two seeds per arm give the bootstrap interval."""
    text = f"""
name = "pair"
[base]
algo = "scored"
"env.name" = "loan-steganography"
"approval.kind" = "none"
seeds = {seeds}
[variants.ordinary]
horizon = "none"
[variants.mona]
horizon = 1
"""
    sweep = parse_sweep(text, tmp_path / "pair.toml")
    store = Store(tmp_path / "pair.store")
    assert sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True).ok
    data = build_report(store, sweep.ids, sweep.variants, "pair")
    [comp] = data["comparisons"]
    score = comp["metrics"]["score"]
    assert score["difference"] == pytest.approx(0.0)
    md = write_report(data, tmp_path / "out")["report"].read_text()
    assert comp["mona_like_ordinary"] == {"updates": 2 * seeds, "of": 3 * seeds,
                                          "per_seed": [2] * seeds}
    assert f"On {2 * seeds} of MONA's {3 * seeds} updates" in md
    row = next(line for line in md.splitlines() if line.startswith("| score |"))
    if seeds == 1:
        assert score["ci95"] is None and "[" not in row
    else:
        lo, hi = score["ci95"]
        assert lo <= 0.0 <= hi and lo < hi and f"[{lo:+.3f}, {hi:+.3f}]" in row

    # training curves: each metric at the steps where it was logged, lines at one step merged
    curve = data["curves"][0]
    assert curve["env_steps"] == [0, 1, 2, 3]
    assert curve["score"]["env_steps"] == [0, 2]
    assert curve["score"]["mean"] == pytest.approx([0.0, 0.2 + 0.01 * (seeds - 1) / 2])
    assert curve["loss"]["env_steps"] == [1, 2, 3]
    assert curve["loss"]["mean"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert (tmp_path / "out" / "curves-1.png").stat().st_size > 10_000


def test_inoculation_pairs_get_their_own_comparison(scored, tmp_path):
    """Conditions that differ only in the trainer's inoculation setting are compared
    (inoculated - without, with a bootstrap interval over seeds), and nothing else is."""
    text = """
name = "inoc"
[base]
algo = "scored"
"env.name" = "loan-steganography"
"approval.kind" = "none"
horizon = "none"
seeds = 3
[variants.plain]
[variants.inoculated]
"scored.inoculation" = true
[variants.mona]
horizon = 1
"""
    sweep = parse_sweep(text, tmp_path / "inoc.toml")
    store = Store(tmp_path / "inoc.store")
    assert sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True).ok
    data = build_report(store, sweep.ids, sweep.variants, "inoc")
    [comp] = data["inoculation_comparisons"]
    assert comp["without"].startswith("plain") and comp["with"].startswith("inoculated")
    assert comp["seeds"] == [3, 3]
    score = comp["metrics"]["score"]
    assert score["difference"] == pytest.approx(0.1)
    assert score["with"]["per_seed"] == pytest.approx([0.6, 0.61, 0.62])
    lo, hi = score["ci95"]
    assert lo <= 0.1 <= hi
    # the plain arm is also ordinary RL against MONA; the inoculated arm has no MONA partner
    [pair] = data["comparisons"]
    assert pair["ordinary_rl"].startswith("plain")
    md = write_report(data, tmp_path / "out")["report"].read_text()
    assert "## Inoculation prompting" in md
    assert "| score | 0.510 [" in md and f"{score['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}]" in md


def test_report_from_store_directory_and_queries(curvy, tmp_path, capsys):
    sweep = parse_sweep(CURVY, tmp_path / "arms.toml")
    store = Store(tmp_path / "arms.store")
    sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    assert main(["report", str(store.root), "--quiet"]) == 0
    assert (store.root / "report" / "report.md").exists()
    data = json.loads((store.root / "report" / "report.json").read_text())
    assert sorted(c["variant"] for c in data["conditions"]) == ["mona", "ordinary"]

    runs = query.load_runs(store.root)
    assert len(runs) == 6 and {r["algo"] for r in runs} == {"curvy"}
    records = query.to_records(store.root)
    assert {"id", "config.approval.kind", "config.horizon", "final.hack"} <= set(records[0])
    metrics = query.load_metrics(store.root)
    assert len(metrics) == 24 and {"id", "env_steps", "hack"} <= set(metrics[0])
    pd = pytest.importorskip("pandas")
    frame = query.to_dataframe(store.root)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 6
    means = frame.groupby("config.approval.kind")["final.hack"].mean()
    assert means["trusted"] == pytest.approx(0.01)


def test_duckdb_example_from_the_docs(curvy, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    sweep = parse_sweep(CURVY, tmp_path / "arms.toml")
    store = Store(tmp_path / "arms.store")
    sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    glob = query.summary_glob(store)
    rows = duckdb.sql(
        "SELECT config.approval.kind AS approval, count(*) AS runs, avg(final.hack) AS hack "
        f"FROM read_json_auto('{glob}') GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert [(a, n) for a, n, _ in rows] == [("none", 3), ("trusted", 3)]
    assert rows[1][2] == pytest.approx(0.01)
    rel = query.duckdb_query(store, "SELECT count(*) FROM runs")
    assert rel.fetchone()[0] == 6


def test_report_errors_are_one_line(tmp_path, capsys):
    cases = [
        ([str(tmp_path / "missing")], "no such store or experiment file"),
        ([str(tmp_path)], "not a run store"),
    ]
    empty = Store(tmp_path / "empty.store")
    empty.init()
    cases.append(([str(empty.root)], "no finished runs"))
    toml = tmp_path / "x.toml"
    toml.write_text('[base]\nalgo = "exact"\n')
    cases.append(([str(toml)], "run 'monarl sweep"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[base\n")
    cases.append(([str(bad)], "invalid TOML"))
    for args, needle in cases:
        before = sorted(p.name for p in tmp_path.rglob("*"))
        assert main(["report", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and needle in err and len(err.splitlines()) == 1, err
        assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_progress_reads_steps_from_the_heartbeat(curvy, tmp_path):
    """A live sweep's display counts env steps of runs in flight (the owner's heartbeat file,
    which goes away with the owner)."""
    sweep = parse_sweep(CURVY, tmp_path / "arms.toml")
    store = Store(tmp_path / "st")
    store.init()
    run = sweep.runs[0]
    claim = store.claim(run.run_id, {"id": run.run_id})
    claim.progress(200)
    progress = sweep_mod._Progress(store, sweep.runs, quiet=True)
    assert progress.uses_steps
    progress.poll([run.run_id], force=True)
    assert progress.history[-1][1] == 200
    assert store.is_busy(run.run_id)
    assert store.lock_info(run.run_id)["env_steps"] == 200
    claim.release()
    assert not store.is_busy(run.run_id)
    assert store.lock_info(run.run_id) is None
    assert not (store.run_dir(run.run_id) / "heartbeat").exists()


def test_approval_quality_table_only_for_runs_that_measured_it():
    from monarl.reports.report import _quality_blocks

    def stat(*values):
        return {"mean": sum(values) / len(values), "ci95": (min(values), max(values)),
                "per_seed": list(values)}

    plain = {"label": "ordinary-rl", "seeds": [0, 1], "varying": {"approval.kind": "none"},
             "metrics": {"hack": stat(1.0, 1.0)}}
    assert _quality_blocks([plain]) == []
    critic = {"label": "mona-critic", "seeds": [0, 1],
              "varying": {"approval.kind": "trusted-critic"},
              "metrics": {"overseer_intended": stat(0.5, 1.0),
                          "approval_rank_correlation": stat(0.1, 0.3)}}
    blocks = _quality_blocks([plain, critic])
    table = blocks[-1]
    assert blocks[0] == ("h2", "Approval quality")
    assert table[1] == ["condition", "seeds", "approval rank correlation", "overseer intended"]
    assert table[2] == [["mona-critic", "2", "0.200 [0.100, 0.300]", "75.0 [50.0, 100.0] %"]]
