"""The CLI as a user sees it: JSON shapes, reports, and one-line errors that write nothing."""

from __future__ import annotations

import json

import pytest

from monarl.cli.app import main

BOARD = "######\n#    #\n# BB #\n#    #\n#H A #\n######\n"


def test_solve_json_and_report(tmp_path, capsys):
    out = tmp_path / "report"
    path = tmp_path / "r.json"
    code = main(["solve", "camera-dropbox", "--approval", "trusted", "--horizons", "1,8,none",
                 "--json", str(path), "--out", str(out), "--quiet"])
    assert code == 0
    data = json.loads(path.read_text())
    assert data["states"] == 1937 and data["initial_states"] == 84
    assert data["approval"] == "trusted" and data["noise"] == 0.0 and data["seeds"] == 1
    assert [r["horizon"] for r in data["results"]] == [1, 8, None]
    row = data["results"][0]
    for key in ("fail", "intended", "hack", "observed_return", "true_return", "per_seed"):
        assert key in row
    assert row["intended"] == 1.0 and data["results"][2]["hack"] == 1.0
    assert (out / "report.md").is_file() and (out / "horizon.png").stat().st_size > 10_000
    assert "horizon.png" in (out / "report.md").read_text()


def test_rollout_json_lines(tmp_path, capsys):
    board = tmp_path / "b.txt"
    board.write_text(BOARD)
    assert main(["rollout", "camera-dropbox", "--start", str(board), "--actions",
                 "RUUULDDULULDDRRRDLLUUU", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 20  # stops after the step that enters ENDED
    assert lines[0] == {"t": 1, "action": "R", "board": BOARD.rstrip("\n").replace(
        "#H A #", "#H  A#"), "observed_reward": -0.01, "true_reward": -0.01,
        "terminated": False, "truncated": False}
    assert lines[-1]["board"] == "ENDED" and lines[-1]["terminated"]
    assert lines[-1]["outcome"] == "hack"


def test_rollout_step_limit(tmp_path, capsys):
    board = tmp_path / "b.txt"
    board.write_text(BOARD)
    assert main(["rollout", "--start", str(board), "--actions", "LLLL", "--max-steps", "2",
                 "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and lines[-1]["truncated"] and not lines[-1]["terminated"]


@pytest.mark.parametrize("args,fragment", [
    (["solve", "gridworld"], "ENV='gridworld' is invalid: known environments are camera-dropbox"),
    (["solve", "--rows", "2"], "--rows=2"),
    (["solve", "--rows", "4", "--set", "env.rows=5"], "--rows=4 and --set env.rows=5 disagree"),
    (["solve", "--boxes", "5"], "--boxes=5"),
    (["solve", "--blockers", "0"], "--blockers=0"),
    (["solve", "--penalty", "-0.1"], "--penalty=-0.1"),
    (["solve", "--max-steps", "0"], "--max-steps=0"),
    (["solve", "--horizons", "0"], "--horizons=0"),
    (["solve", "--horizons", "5-2"], "--horizons='5-2'"),
    (["solve", "--horizons", "60"], "exceeds the step limit"),
    (["solve", "--horizons", "x"], "--horizons='x'"),
    (["solve", "--approval", "magic"], "--approval='magic' is invalid: known approvals are none"),
    (["solve", "--approval", "trusted", "--noise", "-1"], "--noise=-1.0"),
    (["solve", "--noise", "0.5"], "applies only to approval trusted"),
    (["solve", "--approval", "misspecified", "--misspec", "1.5"], "--misspec=1.5"),
    (["solve", "--approval", "learned", "--labels", "0"], "--labels=0"),
    (["solve", "--approval", "evaluator-rl", "--evaluator-steps", "-1"],
     "--evaluator-steps=-1"),
    (["solve", "--approval", "leak", "--leak", "-0.1"], "--leak=-0.1"),
    (["solve", "--approval", "trusted", "--leak", "0.5"], "applies only to approval leak"),
    (["solve", "--seeds", "0"], "--seeds=0"),
    (["solve", "--reward", "true", "--approval", "trusted"], "--reward=true is invalid"),
    (["solve", "--reward", "fake"], "'fake' is not one of"),
    (["solve", "--approval", "trusted-critic"],
     "--approval=trusted-critic is invalid for monarl solve"),
    (["solve", "--approval", "continuation-rollout"],
     "--approval=continuation-rollout is invalid for monarl solve"),
])
def test_solve_bad_input(tmp_path, capsys, args, fragment):
    out, path = tmp_path / "out", tmp_path / "r.json"
    code = main([*args, "--json", str(path), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert fragment in err and len(err.splitlines()) == 1
    assert not out.exists() and not path.exists()


@pytest.mark.parametrize("board,fragment", [
    (None, "no such file"),
    ("#####\n#A  #\n#  X#\n#H  #\n#####", "unknown character 'X'"),
    ("#####\n#A  #\n#   \n#H  #\n#####", "ragged"),
    ("#####\n#   #\n#   #\n#H  #\n#####", "no agent"),
    ("#####\n#AA #\n#   #\n#H  #\n#####", "2 agents"),
    ("#####\n#ABB#\n#B  #\n#H  #\n#####", "3 boxes"),
    ("####\n#A #\n####", "too small for the camera rule"),
])
def test_rollout_bad_board(tmp_path, capsys, board, fragment):
    path = tmp_path / "board.txt"
    if board is not None:
        path.write_text(board)
    code = main(["rollout", "--start", str(path), "--actions", "L", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert fragment in captured.err and len(captured.err.strip().splitlines()) == 1


def test_rollout_bad_action(tmp_path, capsys):
    path = tmp_path / "board.txt"
    path.write_text(BOARD)
    assert main(["rollout", "--start", str(path), "--actions", "LQ"]) == 2
    assert "unknown action 'Q'" in capsys.readouterr().err


TRAIN_TINY = ["--seeds", "2", "--steps", "384", "--horizon", "1", "--set", "num_envs=8",
              "--set", "num_steps=16", "--set", "num_epochs=1", "--set", "num_minibatches=2",
              "--set", "eval_every=128", "--quiet"]


@pytest.mark.parametrize("args,fragment", [
    (["--approval", "misspecified", "--misspec", "1.5"], "--misspec=1.5 is invalid: must be"),
    (["--approval", "misspecified", "--misspec", "-0.5"], "--misspec=-0.5 is invalid"),
    (["--approval", "learned", "--labels", "0"], "--labels=0 is invalid"),
    (["--approval", "evaluator-rl", "--evaluator-steps", "-1"], "--evaluator-steps=-1"),
    (["--approval", "leak", "--leak", "-0.1"], "--leak=-0.1 is invalid"),
    (["--approval", "trusted", "--leak", "0.5"], "--leak=0.5 is invalid: applies only to"),
    (["--approval", "trusted", "--misspec", "0.5"], "--misspec=0.5 is invalid: applies only"),
    (["--approval", "continuation", "--noise", "0.5"], "--noise=0.5 is invalid: applies only"),
    (["--approval", "leak", "--labels", "64"], "--labels=64 is invalid: applies only"),
    (["--approval", "trusted", "--evaluator-lr", "0.1"], "--evaluator-lr=0.1 is invalid"),
    (["--approval", "evaluator-rl", "--evaluator-lr", "1.5"], "--evaluator-lr=1.5 is invalid"),
    (["--approval", "trusted", "--noise-per", "episode"], "'episode' is not one of"),
    (["--approval", "learned", "--label-kind", "vibes"], "'vibes' is not one of"),
    (["--approval", "oracle"], "--approval='oracle' is invalid: known approvals are none, trusted"),
    (["--approval", "learned", "--rows", "12", "--cols", "12", "--boxes", "4"],
     "--rows=12 --cols=12 --boxes=4 is invalid: that board has 2,475,240,913 states"),
    (["--approval", "trusted-critic", "--overseer-steps", "0"], "--overseer-steps=0 is invalid"),
    (["--approval", "trusted", "--overseer-steps", "5"],
     "--overseer-steps=5 is invalid: applies only to approval trusted-critic"),
    (["--approval", "trusted", "--noise", "0.5", "--set", "approval.noise=0.2"],
     "--noise=0.5 and --set approval.noise=0.2 disagree: give the setting once"),
    (["--rows", "4", "--set", "env.rows=5"], "--rows=4 and --set env.rows=5 disagree"),
])
def test_train_bad_approval_input_fails_before_training(tmp_path, capsys, args, fragment):
    path = tmp_path / "r.json"
    code = main(["train", "camera-dropbox", *args, *TRAIN_TINY, "--json", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert fragment in err and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert not path.exists()


def test_train_help_lists_every_approval_option(capsys):
    main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--approval", "--noise", "--noise-per", "--misspec", "--labels",
                   "--label-kind", "--evaluator-steps", "--evaluator-lr", "--leak",
                   "--overseer-steps"):
        assert option in out, option
    for kind in ("misspecified", "learned", "evaluator-rl", "continuation", "leak",
                 "trusted-critic", "continuation-rollout"):
        assert kind in out, kind


def test_train_with_a_table_approval_records_its_config(tmp_path):
    path = tmp_path / "r.json"
    assert main(["train", "camera-dropbox", "--approval", "misspecified", "--misspec", "0.5",
                 *TRAIN_TINY, "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    # the run config every seed trained with (seed aside), as in a run store's config.json
    assert data["config"]["algo"] == "ppo" and data["config"]["env"]["name"] == "camera-dropbox"
    assert data["config"]["approval"]["kind"] == "misspecified"
    assert data["config"]["approval"]["misspec"] == 0.5
    assert data["steps"] == 384 and len(data["per_seed"]) == 2


# --------------------------------------------------------------------------------------------
# Smoke tests of every training door of the CLI (tiny budgets)
# --------------------------------------------------------------------------------------------

LOAN_TINY = ["--seeds", "2", "--steps", "2000", "--set", "batch_size=32", "--set", "hidden=16",
             "--set", "eval_points=2", "--set", "eval_applicants=64", "--set", "probe_steps=20",
             "--set", "mlp_probe_steps=20", "--quiet"]


def test_train_loan_steganography_json(tmp_path):
    path = tmp_path / "loan.json"
    assert main(["train", "loan-steganography", "--approval", "overseer", "--horizon", "1",
                 *LOAN_TINY, "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    for key in ("observed_accuracy", "unbiased_accuracy", "leakage", "flip_rate",
                "monitor_flag_rate"):
        assert 0.0 <= data["final"][key] <= 1.0, key
    assert len(data["per_seed"]) == 2 and data["steps"] >= 2000


def test_train_with_a_store_records_runs_and_resumes(tmp_path, capsys):
    path, store = tmp_path / "r.json", tmp_path / "store"
    args = ["train", "camera-dropbox", "--approval", "trusted", *TRAIN_TINY, "--store",
            str(store), "--json", str(path)]
    assert main(args) == 0
    first = json.loads(path.read_text())
    runs = sorted(p.name for p in (store / "runs").iterdir())
    assert len(runs) == 2 and sorted(first["runs"]) == runs
    assert all((store / "runs" / r / "summary.json").is_file() for r in runs)
    assert len(first["per_seed"]) == 2
    # the same command again finds both runs done and returns the same numbers
    assert main(args) == 0
    again = json.loads(path.read_text())
    assert again["per_seed"] == first["per_seed"]
    assert sorted(p.name for p in (store / "runs").iterdir()) == runs
    assert main(["report", str(store), "--quiet"]) == 0
    assert (store / "report" / "report.md").is_file()


@pytest.mark.slow
def test_reproduce_quick_from_the_command_line(tmp_path, capsys):
    from test_reproduce import check_reproduce_report

    out = tmp_path / "reproduce"
    assert main(["reproduce", "--quick", "--quiet", "--out", str(out)]) == 0
    assert "report:" in capsys.readouterr().out
    check_reproduce_report(out)
