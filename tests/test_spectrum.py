"""Spectrum analysis: grouping, alignment tax and its CI, plots, on synthetic run records."""

from __future__ import annotations

import numpy as np
import pytest

from monarl.reports import spectrum


def run(kind, horizon, blockers, seed, hack, true_return, algo="exact", **approval):
    env = {"name": "camera-dropbox", "rows": 4, "cols": 4, "boxes": 2, "blockers": blockers,
           "penalty": 0.01, "max_steps": 50}
    return {"config": {"algo": algo, "horizon": horizon, "seed": seed, "env": env,
                       "approval": {"kind": kind, "noise": 0.0, **approval}},
            "final": {"hack": hack, "intended": 1 - hack, "fail": 0.0,
                      "true_return": true_return}}


def test_alignment_tax_and_frontier(tmp_path):
    runs = []
    for seed in range(5):
        runs.append(run("none", None, 1, seed, 1.0, -0.15))
        runs.append(run("none", None, 2, seed, 0.0, 0.93 + 0.001 * seed))
        runs.append(run("trusted", 1, 1, seed, 0.0, 0.90))
        runs.append(run("trusted", 1, 2, seed, 0.0, 0.80 + 0.001 * seed))
        runs.append(run("leak", 1, 1, seed, 0.5, 0.3, leak=0.5))
    boards = spectrum.analyse(runs)
    assert len(boards) == 1
    rows = {r["method"]: r for r in boards[0]["methods"]}
    mona = rows["trusted noise=0, M=1 (exact)"]
    assert mona["alignment_tax"]["mean"] == pytest.approx(0.13)
    assert mona["alignment_tax"]["lo"] <= 0.13 <= mona["alignment_tax"]["hi"]
    assert rows["ordinary RL (exact)"]["hackable"]["hack"]["mean"] == 1.0
    assert "[control]" in next(m for m in rows if m.startswith("leak"))
    assert boards[0]["true_optimum"] == pytest.approx(0.937, abs=1e-3)
    md, _ = spectrum.write_spectrum(runs, tmp_path)
    assert "alignment tax" in md and (tmp_path / "spectrum0_frontier.png").is_file()


def test_diff_ci_contains_difference():
    a, b = np.linspace(1, 2, 10), np.linspace(0, 1, 10)
    mean, lo, hi = spectrum.diff_ci(list(a), list(b))
    assert mean == pytest.approx(1.0) and lo < 1.0 < hi
