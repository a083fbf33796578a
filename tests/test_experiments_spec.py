"""Experiment files: expansion, run ids, and validation before anything runs or is written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from monarl.algos import TRAINERS
from monarl.cli.app import main
from monarl.experiments.spec import SpecError, build_run, load_sweep, parse_sweep

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "horizon_sweep.toml"

GOOD = """
name = "tiny"
[base]
algo = "exact"
seeds = 2
[base.approval]
kind = "trusted"
[sweep]
"approval.noise" = [0.0, 0.5]
horizon = {range = [1, 3]}
"""


def test_example_expands_to_the_foundation_sweep():
    sweep = load_sweep(EXAMPLE)
    assert len(sweep.runs) == 2 * 50 * 10
    assert len(set(sweep.ids)) == len(sweep.runs)
    assert sweep.axes == {
        "approval.noise": [0.0, 0.5],
        "horizon": list(range(1, 51)),
        "seed": list(range(10)),
    }
    run = sweep.runs[0]
    assert (run.algo, run.horizon, run.seed, run.approval.kind) == ("exact", 1, 0, "trusted")


def test_run_ids_are_stable_and_normalized():
    a = build_run(
        {"algo": "exact", "horizon": 4, "seed": 1, "approval": {"kind": "trusted", "noise": 0}}
    )
    b = build_run(
        {
            "horizon": "4",
            "seed": 1,
            "env": {"rows": 4},
            "approval": {"kind": "trusted", "noise": 0.0},
        }
    )
    c = build_run({"horizon": 4, "seed": 2, "approval": {"kind": "trusted"}})
    assert a.run_id == b.run_id != c.run_id
    assert len(a.run_id) == 16 and all(ch in "0123456789abcdef" for ch in a.run_id)
    # defaults are left out of the identity (new fields with defaults keep old ids valid)
    assert a.identity() == {
        "algo": "exact",
        "horizon": 4,
        "seed": 1,
        "semantics": 2,
        "approval": {"kind": "trusted"},
    }
    full = a.to_dict()
    assert full["env"]["rows"] == 4 and full["approval"]["noise"] == 0.0
    assert full["exact"] == {"reward": "observed", "tie_break": "random", "window": "optimal"}
    assert build_run(full).run_id == a.run_id


def test_variants_range_step_and_duplicates():
    text = """
[base]
seed = 0
[sweep]
horizon = {range = [1, 9, 4]}
[variants.ordinary]
"approval.kind" = "none"
[variants.mona]
approval = {kind = "trusted", noise = 0.5}
[variants.ordinary-again]
approval.kind = "none"
"""
    sweep = parse_sweep(text, Path("v.toml"))
    assert sweep.axes == {"horizon": [1, 5, 9]}
    assert len(sweep.runs) == 6 and sweep.duplicates == 3
    assert sorted(set(sweep.variants.values())) == ["mona", "ordinary"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


BAD = {
    "unknown env": ('[base.env]\nname = "atari"', ["base.env.name", "'atari'", "camera-dropbox"]),
    "unknown algorithm": ('[base]\nalgo = "dqn"', ["base.algo", "'dqn'", "exact, ppo"]),
    "unknown field": ("[base.approval]\nnosie = 0.5", ["'approval.nosie'", "noise"]),
    "unknown sweep field": ('[sweep]\n"env.colums" = [4]', ["sweep", "'env.colums'", "cols"]),
    "unknown section": ('[sweep]\n"optim.lr" = [1]', ["unknown section 'optim'"]),
    "unknown top key": ("horizon = 3", ["unknown top-level key 'horizon'", "[base]"]),
    "wrong type": ('[base.env]\nrows = "four"', ["base.env.rows", "'four'", "integer >= 3"]),
    "wrong type seed": ("[base]\nseed = 1.5", ["base.seed", "1.5", "integer >= 0"]),
    "empty axis": ("[sweep]\nhorizon = []", ["sweep.horizon", "empty"]),
    "empty range": ("[sweep]\nhorizon = {range = [5, 1]}", ["sweep.horizon.range", "empty"]),
    "empty sweep": ("[sweep]\n", ["sweep is empty"]),
    "bad axis": ("[sweep]\nhorizon = 3", ["sweep.horizon=3", "non-empty list"]),
    "horizon < 1": ("[sweep]\nhorizon = [1, 0]", ["sweep.horizon=0", "integer >= 1"]),
    "horizon too long": ("[base]\nhorizon = 51", ["base.horizon=51", "max_steps=50"]),
    "negative noise": (
        '[base.approval]\nkind = "trusted"\n[sweep]\n"approval.noise" = [0.5, -1]',
        ['sweep."approval.noise"=-1', ">= 0"],
    ),
    "combination": (
        '[sweep]\n"approval.noise" = [0.5]',
        ['sweep."approval.noise"=0.5', "is invalid"],
    ),
    "broken toml": ('[base\nalgo = "exact"', ["invalid TOML"]),
    "bad exact setting": (
        '[base.exact]\nwindow = "sideways"',
        ["base.exact.window", "optimal, policy"],
    ),
    "bad seeds": ("[base]\nseeds = 0", ["base.seeds=0", "integer >= 1"]),
    "ppo true reward with an approval": (
        '[base]\nalgo = "ppo"\n[base.ppo]\nreward = "true"\n[base.approval]\nkind = "trusted"',
        ["ppo.reward='true'", "approval 'trusted'", "whole training reward"],
    ),
    "true reward with an approval": (
        '[base.exact]\nreward = "true"\n[base.approval]\nkind = "trusted"',
        ["exact.reward='true'", "approval 'trusted'", "whole training reward"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_before_anything_is_written(case, tmp_path, capsys):
    text, needles = BAD[case]
    path = _write(tmp_path, text)
    store = tmp_path / "exp.store"
    assert main(["sweep", str(path), "--quiet"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {path}: ")
    for needle in needles:
        assert needle in err, (needle, err)
    assert not store.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]


def test_missing_file_and_bad_options(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    assert main(["sweep", str(missing)]) == 2
    assert "no such experiment file" in capsys.readouterr().err
    good = _write(tmp_path, GOOD)
    for args, needle in (
        (["--workers", "0"], "--workers=0"),
        (["--executor", "slurm"], "--executor='slurm'"),
        (["--address", "x:1"], "--address is only for --executor ray"),
    ):
        assert main(["sweep", str(good), *args]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
    not_a_store = tmp_path / "busy"
    not_a_store.mkdir()
    (not_a_store / "thesis.tex").write_text("x")
    assert main(["sweep", str(good), "--store", str(not_a_store)]) == 2
    assert "not a run store" in capsys.readouterr().err
    assert not (tmp_path / "exp.store").exists()
    assert sorted(p.name for p in not_a_store.iterdir()) == ["thesis.tex"]


def test_spec_error_is_one_line_with_file_name(tmp_path):
    path = _write(tmp_path, GOOD.replace("[0.0, 0.5]", "[0.0, -0.5]"))
    with pytest.raises(SpecError) as info:
        load_sweep(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_ppo_is_a_registry_entry(monkeypatch):
    """algo = 'ppo' validates its own [base.ppo] section, and says clearly what is missing when
    its module cannot be imported (the registry imports a trainer only on first use)."""
    ppo = TRAINERS.get("ppo")
    assert ppo.batch_fields == ("seed",) and ppo.section == "ppo"
    run = build_run(
        {
            "algo": "ppo",
            "horizon": 1,
            "approval": {"kind": "trusted"},
            "ppo": {"total_steps": 4000},
        }
    )
    assert run.settings.total_steps == 4000 and ppo.steps(run) == 4000
    assert run.to_dict()["ppo"]["total_steps"] == 4000
    with pytest.raises(SpecError, match=r"base\.ppo\.total_steps=0"):
        parse_sweep('[base]\nalgo = "ppo"\n[base.ppo]\ntotal_steps = 0', Path("p.toml"))
    monkeypatch.delitem(TRAINERS._loaded, "ppo")
    monkeypatch.setitem(sys.modules, "monarl.algos.ppo", None)  # import fails
    with pytest.raises(SpecError, match=r"algo='ppo' is invalid: cannot load monarl\.algos\.ppo"):
        parse_sweep('[base]\nalgo = "ppo"', Path("p.toml"))


def test_every_example_experiment_file_is_valid():
    """Each examples/*.toml that is an experiment file expands without error (warm_start.toml
    has its own format, read by ``run_warm_start_file``)."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    files = sorted(p for p in examples.glob("*.toml") if p.name != "warm_start.toml")
    assert len(files) >= 8
    for path in files:
        assert load_sweep(path).runs, path.name
