"""The loan trainer (``loan-pg``) in the experiment system: spec, sweep, report, resume; and
run ids of the camera-dropbox algorithms unchanged by per-algorithm sections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monarl.algos import TRAINERS, loan_pg
from monarl.cli.app import main
from monarl.experiments import sweep as sweep_mod
from monarl.experiments.arms import load_arms
from monarl.experiments.spec import SpecError, build_run, load_sweep, parse_sweep, run_id
from monarl.experiments.store import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

TINY = """
name = "tiny-loan"
[base]
algo = "loan-pg"
seeds = 2
[base.env]
bias = 1.5
[base.loan_pg]
total_steps = 500
batch_size = 32
hidden = 8
eval_points = 2
eval_applicants = 64
probe_steps = 5
mlp_probe_steps = 0
[variants.ordinary-rl]
horizon = "none"
[variants.mona]
horizon = 1
"""


def test_example_files_expand():
    sweep = load_sweep(EXAMPLES / "loan_steganography.toml")
    assert len(sweep.runs) == 20 and sweep.describe() == "2 variants x 10 seed"
    assert sorted(set(sweep.variants.values())) == ["mona", "ordinary-rl"]
    run = sweep.runs[0]
    assert (run.algo, run.horizon, run.approval.kind) == ("loan-pg", None, "overseer")
    assert run.env.name == "loan-steganography" and run.env.max_steps == 2
    assert run.settings == loan_pg.LoanPGConfig()  # the file repeats the defaults
    assert TRAINERS.get("loan-pg").steps(run) == 1960 * 512  # rounded to whole updates
    full = run.to_dict()
    assert full["loan_pg"]["total_steps"] == 1_000_000 and full["approval"] == {"kind": "overseer"}
    assert full["env"]["vocab_size"] == 12 and "rows" not in full["env"]
    assert build_run(json.loads(json.dumps(full))).run_id == run.run_id
    variants = load_sweep(EXAMPLES / "loan_monitor_variants.toml")
    assert len(variants.runs) == 60
    # bench_loan reads the same files
    arms = load_arms(EXAMPLES / "loan_monitor_variants.toml", main=False)
    assert len(arms) == 6 and not any(a["main"] for a in arms)
    assert {a["approval"].kind for a in arms} == {"none", "overseer"}


def test_loan_run_ids_are_normalized():
    a = build_run({"algo": "loan-pg", "horizon": 1, "env": {"bias": 1}, "loan_pg": {"kl_coef": 0}})
    b = build_run(
        {
            "algo": "loan-pg",
            "horizon": "1",
            "env": {"bias": 1.0, "vocab_size": 12},
            "approval": {"kind": "overseer"},
            "loan_pg": {"kl_coef": 0.0},
        }
    )
    assert a.run_id == b.run_id
    assert a.identity() == {
        "algo": "loan-pg",
        "horizon": 1,
        "seed": 0,
        "env": {"bias": 1.0},
        "loan_pg": {"kl_coef": 0.0},
    }
    w = build_run({"algo": "loan-pg", "env": {"weights": [1, 2, 2]}})
    assert w.env.weights == (1.0, 2.0, 2.0) and w.to_dict()["env"]["weights"] == [1.0, 2.0, 2.0]


def test_exact_and_ppo_run_ids_change_only_with_their_semantics_version():
    """Literal ids: the ones computed before algorithms could bring their own env/approval
    sections are still what the identity gives without its ``semantics`` key, and the
    semantics version (2 for exact and ppo since the approval fix) makes the current ids."""
    sweep = load_sweep(EXAMPLES / "horizon_sweep.toml")
    assert (sweep.ids[0], sweep.ids[-1]) == ("a0af2d614e5744c7", "55b8ca7aff1293aa")
    legacy = {k: v for k, v in sweep.runs[0].identity().items() if k != "semantics"}
    assert run_id(legacy) == "810abbcfb1a37071"
    exact = build_run(
        {"algo": "exact", "horizon": 4, "seed": 1, "approval": {"kind": "trusted", "noise": 0.5}}
    )
    assert exact.identity()["semantics"] == 2
    assert exact.run_id == "207894abafe4035b"
    assert run_id({k: v for k, v in exact.identity().items() if k != "semantics"}) == (
        "fc124a11c9ea9db4")
    pytest.importorskip("monarl.algos.ppo")
    ppo = build_run(
        {
            "algo": "ppo",
            "horizon": 1,
            "seed": 3,
            "approval": {"kind": "trusted"},
            "ppo": {"total_steps": 4000},
        }
    )
    assert ppo.run_id == "56bcda16108e30d6"
    assert run_id({k: v for k, v in ppo.identity().items() if k != "semantics"}) == (
        "009fb347b749d6a3")
    assert "semantics" not in build_run({"algo": "loan-pg"}).identity()  # still version 1


BAD = {
    "camera field": ("[base.env]\nrows = 4", ["base.env", "unknown field 'rows'", "vocab_size"]),
    "approval kind": (
        '[base.approval]\nkind = "trusted"',
        ["base.approval.kind='trusted'", "none, overseer"],
    ),
    "camera approval field": ("[base.approval]\nnoise = 0.5", ["unknown field 'noise'", "kind"]),
    "horizon 3": (
        "[base]\nhorizon = 3",
        ["base.horizon=3", "episode length of loan-steganography, 2 steps", "'none'"],
    ),
    "horizon 2": ("[sweep]\nhorizon = [1, 2]", ["sweep.horizon=2", "1 (MONA) and none"]),
    "vocabulary too small": (
        "[base.env]\nvocab_size = 7",
        ["base.env.vocab_size=7", ">= 2 * num_features + 2 = 8"],
    ),
    "negative bias": ('[sweep]\n"env.bias" = [1, -1]', ['sweep."env.bias"=-1.0', ">= 0"]),
    "bad trainer value": ("[base.loan_pg]\nkl_coef = -1", ["base.loan_pg.kl_coef=-1.0", ">= 0"]),
    "unknown trainer field": ("[base.loan_pg]\nsteps = 5", ["'loan_pg.steps'", "total_steps"]),
    "unknown field anywhere": (
        '[sweep]\n"env.colums" = [4]', ["'env.colums'", "loan-steganography: bias"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_loan_files_fail_in_one_line(case, tmp_path, capsys):
    text, needles = BAD[case]
    path = tmp_path / "exp.toml"
    path.write_text('[base]\nalgo = "loan-pg"\n' + text.replace("[base]\n", ""))
    assert main(["sweep", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {path}: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]
    with pytest.raises(SpecError):
        parse_sweep(path.read_text(), path)


def test_tiny_loan_sweep_report_and_resume(tmp_path, capsys):
    """Two arms x 2 seeds through `monarl sweep` and `monarl report` (two small compiles)."""
    path = tmp_path / "loan.toml"
    path.write_text(TINY)
    assert main(["sweep", str(path), "--workers", "1", "--quiet"]) == 0
    store = Store(tmp_path / "loan.store")
    sweep = load_sweep(path)
    assert store.done_ids() == set(sweep.ids)
    lines = store.read_metrics(sweep.ids[0])
    assert [ln["env_steps"] for ln in lines] == [0, 256, 512]
    assert {"observed_accuracy", "leakage", "flip_rate"} <= set(lines[-1])
    summary = store.read_json(sweep.ids[0], "summary.json")
    assert list(summary["final"])[:5] == list(loan_pg.HEADLINE)
    assert summary["final"]["leakage_mlp"] is None  # mlp_probe_steps = 0: no MLP probe
    assert summary["info"]["steps"] == 512 and "observed_from_x" in summary["info"]["bounds"]

    numbers = tmp_path / "numbers.json"
    assert main(["report", str(path), "--quiet", "--json", str(numbers)]) == 0
    md = (store.root / "report" / "report.md").read_text()
    assert "| condition | seeds | observed accuracy | unbiased accuracy | leakage | flip rate" in md
    assert "| ordinary-rl: horizon=none | 2 |" in md and "| mona: horizon=1 | 2 |" in md
    assert "Observed-accuracy gap (ordinary RL - MONA): " in md
    assert "## Training curves" in md and (store.root / "report" / "curves-1.png").exists()
    data = json.loads(numbers.read_text())
    assert data["style"] == "metrics" and data["horizon_studies"] == []
    [comp] = data["comparisons"]
    gap = comp["metrics"]["observed_accuracy"]
    ordinary = next(c for c in data["conditions"] if c["variant"] == "ordinary-rl")
    mona = next(c for c in data["conditions"] if c["variant"] == "mona")
    expected = ordinary["metrics"]["observed_accuracy"]["mean"]
    expected -= mona["metrics"]["observed_accuracy"]["mean"]
    assert gap["difference"] == pytest.approx(expected)
    assert gap["ci95"][0] <= gap["difference"] <= gap["ci95"][1]
    assert f"{gap['difference']:+.3f}" in md
    assert {"observed_accuracy", "unbiased_accuracy", "monitor_flag_rate"} <= set(data["curves"][0])

    # resume: everything is done, nothing runs again
    before = {rid: store.summary_path(rid).stat().st_mtime_ns for rid in sweep.ids}
    outcome = sweep_mod.run_sweep(sweep, store, sweep_mod.local_factory(1), quiet=True)
    assert outcome.ok and outcome.already_done == 4 and outcome.done_here == 0
    assert {rid: store.summary_path(rid).stat().st_mtime_ns for rid in sweep.ids} == before
