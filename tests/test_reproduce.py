"""Smoke test of the flagship path, ``monarl reproduce``: every part runs and the report, plots
and JSON are written (tiny budgets: a few PPO updates, three horizons)."""

from __future__ import annotations

import json

from monarl.experiments.reproduce import reproduce

# The settings of tests/test_ppo.py, so that in one pytest process the ordinary-RL and MONA
# programs compiled there are reused here (only the sigma 0.5 and warm-start programs compile).
TINY_PPO = {"num_envs": 8, "num_steps": 16, "num_epochs": 1, "num_minibatches": 2,
            "eval_every": 128}
TINY_STEPS = 3 * 8 * 16
# tests/test_loan.py's tiny loan settings (its ordinary-RL program is reused the same way)
TINY_LOAN = {"batch_size": 32, "hidden": 16, "eval_points": 2, "eval_applicants": 64,
             "probe_steps": 20, "mlp_probe_steps": 20}


def test_reproduce_writes_one_report_with_every_part(tmp_path):
    budget = {"exact_seeds": 2, "horizons": [1, 12, 50], "seeds": 2,
              "steps": TINY_STEPS, "warm_steps": 128, "loan_seeds": 2, "loan_steps": 2000}
    result = reproduce(tmp_path, quiet=True, budget=budget, ppo_overrides=TINY_PPO,
                       loan_overrides=TINY_LOAN)
    report = (tmp_path / "report.md").read_text()
    for heading in ("## 1. Exact solver", "## 2. PPO", "### Warm start", "## 3. Encoded",
                    "Observed-accuracy gap", "## Provenance"):
        assert heading in report
    for arm in ("| ordinary RL |", "| MONA |", "| MONA, sigma 0.5 |"):
        assert arm in report
    for png in ("horizon_sigma0.png", "horizon_sigma0.5.png", "ppo_curves.png"):
        assert (tmp_path / png).stat().st_size > 10_000
    data = json.loads((tmp_path / "results.json").read_text())
    arms = data["ppo"]["arms"]
    assert set(arms) == {"ordinary RL", "MONA", "MONA, sigma 0.5"}
    assert all(a["seeds"] == 2 and a["steps"] == TINY_STEPS for a in arms.values())
    # the warm start continues the ordinary-RL arm's own policies: its first evaluation point
    # is exactly that arm's last one
    warm = data["ppo"]["warm_start"]
    for seed in range(2):
        assert warm["mona"]["curves"]["hack"][seed][0] == arms["ordinary RL"]["curves"]["hack"][
            seed][-1]
    loan = data["loan"]
    assert set(loan["arms"]) == {"ordinary RL", "MONA"}
    gap, lo, hi = loan["observed_accuracy_gap"]
    assert lo <= gap <= hi
    assert result["report"] == tmp_path / "report.md"


def check_reproduce_report(out) -> None:
    report = (out / "report.md").read_text()
    for heading in ("## 1. Exact solver", "## 2. PPO", "## 3. Encoded", "## Provenance"):
        assert heading in report
    data = json.loads((out / "results.json").read_text())
    assert set(data) >= {"exact", "ppo", "loan", "provenance"}


def test_reproduce_from_the_command_line_reaches_the_pipeline(tmp_path, capsys, monkeypatch):
    """The CLI's path into the flagship job (options parsed, passed on, report path printed),
    on this module's tiny budget. It lives here, not in tests/test_cli.py, so that the
    parallel runner (xdist, one module per worker) runs it in the process that compiled the
    programs above; the real ``--quick`` budget runs in tests/test_cli.py's slow tier."""
    import monarl.experiments.reproduce as experiment
    from monarl.cli.app import main

    real, seen = experiment.reproduce, {}

    def tiny(out, quick=False, **options):
        seen.update(options, quick=quick)
        budget = {"exact_seeds": 2, "horizons": [1, 12, 50], "seeds": 2, "steps": TINY_STEPS,
                  "warm_steps": 128, "loan_seeds": 2, "loan_steps": 2000}
        return real(out, quick=quick, budget=budget, ppo_overrides=TINY_PPO,
                    loan_overrides=TINY_LOAN, **options)

    monkeypatch.setattr(experiment, "reproduce", tiny)
    out = tmp_path / "reproduce"
    assert main(["reproduce", "--quick", "--quiet", "--out", str(out), "--workers", "1"]) == 0
    assert seen == {"quick": True, "ppo": True, "loan": True, "quiet": True, "workers": 1}
    assert "report:" in capsys.readouterr().out
    check_reproduce_report(out)
