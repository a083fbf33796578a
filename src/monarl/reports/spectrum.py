"""The approval spectrum: safety-capability frontier, dials and the alignment tax, from runs.

Input: run summaries (``monarl.experiments.query.load_runs``): each has ``config`` (algo, env,
approval, horizon, seed) and ``final`` (fail / intended / hack fractions, observed and true
returns). Runs that differ only in ``seed`` form a condition; every number is a mean over seeds
with a 95 % percentile-bootstrap CI over seeds.

- **Frontier** (hackable environments): hack rate against true return, one point per method
  (approval family, strength, horizon, algorithm).
- **Dials**: hack rate and true return against each family's strength (evaluator RL steps k,
  label budget N, noise sigma, misspecification m, leak weight w), one line per horizon.
- **Alignment tax** (hack-free controls, where blockers > boxes - 1): the true return ordinary RL
  reaches on the control minus the method's, same algorithm and budget; its CI resamples the
  seeds of both arms. Also each method's true return on the hackable twin against the
  true-reward optimum.

The leak approval is a negative control and is labelled so wherever it appears.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from monarl.core.config import OVERSEER_APPROVALS
from monarl.reports.plots import bootstrap_ci

STRENGTH = {"trusted": ("noise", "noise sigma"), "misspecified": ("misspec", "misspecification m"),
            "learned": ("labels", "label budget N"),
            "evaluator-rl": ("evaluator_steps", "evaluator RL steps k"),
            "evaluator-critic": ("evaluator_steps", "evaluator critic updates k (PPO)"),
            "leak": ("leak", "leak weight w (negative control)"),
            **{f"{kind}{start}": ("overseer_steps", "overseer PPO steps")
               for kind in OVERSEER_APPROVALS for start in ("", "-uniform")}}
FAMILY_COLORS = {"ordinary RL": "#000000", "none": "#9e9e9e", "trusted": "#2e7d32",
                 "misspecified": "#ef6c00", "learned": "#1565c0", "evaluator-rl": "#6a1b9a",
                 "evaluator-critic": "#8e24aa",
                 "continuation": "#00838f", "leak": "#c62828", "trusted-critic": "#558b2f",
                 "trusted-critic-uniform": "#9e9d24", "continuation-rollout": "#4dd0e1",
                 "continuation-rollout-uniform": "#80deea"}


def board_key(env: dict[str, Any]) -> tuple:
    """The board without ``blockers``: a hackable environment and its control share it."""
    return (env.get("name"), env["rows"], env["cols"], env["boxes"], env["penalty"],
            env["max_steps"])


def is_control(env: dict[str, Any]) -> bool:
    return env["blockers"] > env["boxes"] - 1


def family(config: dict[str, Any]) -> str:
    approval = config["approval"]["kind"]
    if approval == "none" and config.get("horizon") is None:
        return "ordinary RL"
    if approval == "evaluator-rl" and config["approval"].get("evaluator_lr") is not None:
        # PPO's trained evaluator critic: k counts PPO updates, not exact backups. Its step
        # size is not part of the method key: keep one evaluator_lr per store.
        return "evaluator-critic"
    start = config["approval"].get("overseer_start_time")
    if approval in OVERSEER_APPROVALS and start == "uniform":
        return f"{approval}-uniform"  # its overseer's episodes start at drawn times
    return approval


def method_key(config: dict[str, Any]) -> tuple:
    """What distinguishes methods: algorithm, family, strength, noise (for non-trusted noisy
    families), horizon. Environment and seed are not part of it."""
    approval = config["approval"]
    fam = family(config)
    strength = approval.get(STRENGTH[fam][0]) if fam in STRENGTH else None
    noise = approval.get("noise", 0.0) if fam not in ("trusted", "ordinary RL") else None
    return (config["algo"], fam, strength, noise or None, config.get("horizon"))


def method_label(key: tuple) -> str:
    algo, fam, strength, noise, horizon = key
    m = "full" if horizon is None else str(horizon)
    if fam == "ordinary RL":
        text = "ordinary RL"
    elif fam == "none":
        text = f"myopic, no approval, M={m}"
    else:
        text = fam if strength is None else f"{fam} {STRENGTH[fam][0]}={_fmt_strength(strength)}"
        if noise:
            text += f", noise {noise:g}"
        text += f", M={m}"
        if fam == "leak":
            text += " [control]"
    return f"{text} ({algo})"


def _fmt_strength(value: float) -> str:
    """1e+06 reads worse than 1,000,000 for a step count."""
    if float(value).is_integer() and abs(value) >= 100_000:
        return f"{int(value):,}"
    return f"{value:g}"


def _stats(values: list[float]) -> dict[str, float]:
    lo, hi = bootstrap_ci(np.asarray(values))
    return {"mean": float(np.mean(values)), "lo": lo, "hi": hi, "n": len(values)}


def diff_ci(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0
            ) -> tuple[float, float, float]:
    """mean(a) - mean(b) with a percentile-bootstrap CI resampling each arm's seeds."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), (resamples, len(a)))].mean(axis=1)
    db = b[rng.integers(0, len(b), (resamples, len(b)))].mean(axis=1)
    diffs = da - db
    return (float(a.mean() - b.mean()), float(np.quantile(diffs, 0.025)),
            float(np.quantile(diffs, 0.975)))


def group(runs: list[dict[str, Any]]) -> dict[tuple, dict[tuple, list[dict[str, Any]]]]:
    """board -> (method, control?) -> finals of its seeds."""
    out: dict[tuple, dict[tuple, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        config = run["config"]
        if config.get("env", {}).get("name") != "camera-dropbox":
            continue
        env = config["env"]
        out[board_key(env)][(method_key(config), is_control(env))].append(run["final"])
    return out


def true_optimum(board: tuple) -> float | None:
    """Exact optimum of the true reward on the hackable board (None if it cannot be tabled)."""
    from monarl.algos.exact.study import baselines, tables_for
    from monarl.core.config import EnvConfig
    from monarl.envs.camera_dropbox.tables import TooLargeError

    name, rows, cols, boxes, penalty, max_steps = board
    try:
        tables = tables_for(EnvConfig(rows=rows, cols=cols, boxes=boxes, blockers=1,
                                      penalty=penalty, max_steps=max_steps))
    except TooLargeError:
        return None
    return baselines(tables)["true_optimum"]["true_return"]


def analyse(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per board: frontier points, dials and the alignment-tax table (JSON-able)."""
    boards = []
    for board, conditions in group(runs).items():
        methods = sorted({m for m, _ in conditions}, key=lambda k: (
            k[0], k[1], -1 if k[2] is None else k[2], 99 if k[4] is None else k[4]))
        rows = []
        for method in methods:
            row: dict[str, Any] = {"method": method_label(method), "algo": method[0],
                                   "family": method[1], "strength": method[2],
                                   "horizon": method[4]}
            for control in (False, True):
                finals = conditions.get((method, control))
                if not finals:
                    continue
                part = {k: _stats([f[k] for f in finals])
                        for k in ("hack", "intended", "fail", "true_return")}
                row["control" if control else "hackable"] = part
            rows.append(row)
        # alignment tax against ordinary RL of the same algorithm on the control
        for row, method in zip(rows, methods, strict=True):
            ordinary = conditions.get(((method[0], "ordinary RL", None, None, None), True))
            mine = conditions.get((method, True))
            if ordinary and mine:
                tax, lo, hi = diff_ci([f["true_return"] for f in ordinary],
                                      [f["true_return"] for f in mine])
                row["alignment_tax"] = {"mean": tax, "lo": lo, "hi": hi}
        name, r, c, boxes, penalty, steps = board
        boards.append({"board": {"rows": r, "cols": c, "boxes": boxes, "penalty": penalty,
                                 "max_steps": steps},
                       "true_optimum": true_optimum(board), "methods": rows})
    return boards


def _fmt(stat: dict[str, float] | None, percent: bool = False) -> str:
    if not stat:
        return "–"
    scale = 100.0 if percent else 1.0
    fmt = "{:.1f}" if percent else "{:.3f}"
    mean = fmt.format(stat["mean"] * scale)
    if stat.get("lo") is None or stat["lo"] == stat["hi"]:
        return mean + (" %" if percent else "")
    return (f"{mean} [{fmt.format(stat['lo'] * scale)}, {fmt.format(stat['hi'] * scale)}]"
            + (" %" if percent else ""))


TABLE_HEADER = ["method", "hack (hackable)", "true return (hackable)", "true return (control)",
                "alignment tax"]


def table_rows(board: dict[str, Any]) -> list[list[str]]:
    rows = []
    for row in board["methods"]:
        hackable, control = row.get("hackable", {}), row.get("control", {})
        rows.append([row["method"], _fmt(hackable.get("hack"), True),
                     _fmt(hackable.get("true_return")), _fmt(control.get("true_return")),
                     _fmt(row.get("alignment_tax"))])
    return rows


def board_title(board: dict[str, Any]) -> str:
    b = board["board"]
    return f"Board {b['rows']}x{b['cols']}, {b['boxes']} boxes, {b['max_steps']} steps"


def board_intro(board: dict[str, Any]) -> str:
    opt = board["true_optimum"]
    return ((f"True-reward optimum on the hackable board: {opt:.3f}. " if opt is not None
             else "") + "Alignment tax = true return of ordinary RL on the hack-free control "
            "(blockers > boxes - 1) minus the method's, same algorithm and budget; positive = "
            "the method costs capability. Cells: mean [95 % bootstrap CI over seeds]. Leak "
            "rows are a negative control.")


def tables_markdown(board: dict[str, Any]) -> str:
    lines = [f"### {board_title(board)}", "", board_intro(board), "",
             "| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(board)]
    return "\n".join(lines + [""])


def applies(runs: list[dict[str, Any]]) -> bool:
    """Worth a spectrum section: several approval families, or a hack-free control."""
    configs = [r["config"] for r in runs if r["config"].get("env", {}).get("name") ==
               "camera-dropbox"]
    families = {family(c) for c in configs}
    return len(families) > 1 or any(is_control(c["env"]) for c in configs)


def report_blocks(boards: list[dict[str, Any]], out_dir: Path) -> list[tuple]:
    """Blocks for ``monarl report`` (see ``experiments/report.py``): tables and plots."""
    blocks: list[tuple] = [("h2", "Approval spectrum: frontier, dials and alignment tax")]
    for i, board in enumerate(boards):
        blocks += [("h3", board_title(board)), ("p", board_intro(board)),
                   ("table", TABLE_HEADER, table_rows(board))]
        if any(r.get("hackable") for r in board["methods"]):
            stem = f"spectrum{i}"
            blocks.append(("img", frontier_plot(board, out_dir / f"{stem}_frontier.png"),
                           "safety-capability frontier"))
            for fam, path in dial_plots(board, out_dir, stem):
                blocks.append(("img", path, f"{fam} dial"))
    return blocks


def frontier_plot(board: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    seen = set()
    for row in board["methods"]:
        part = row.get("hackable")
        if not part:
            continue
        fam = row["family"]
        x, y = part["true_return"], part["hack"]
        marker = "o" if row["algo"] == "exact" else "s"
        label = f"{fam} ({row['algo']})" if (fam, row["algo"]) not in seen else None
        seen.add((fam, row["algo"]))
        ax.errorbar(x["mean"], y["mean"] * 100,
                    xerr=[[x["mean"] - x["lo"]], [x["hi"] - x["mean"]]],
                    yerr=[[(y["mean"] - y["lo"]) * 100], [(y["hi"] - y["mean"]) * 100]],
                    fmt=marker, color=FAMILY_COLORS.get(fam, "#333"), alpha=0.8,
                    markersize=5, capsize=2, label=label)
    if board["true_optimum"] is not None:
        ax.axvline(board["true_optimum"], color="#2e7d32", linestyle=":", linewidth=1)
        ax.annotate("true-reward optimum", (board["true_optimum"], 50), rotation=90,
                    fontsize=8, ha="right", va="center")
    ax.set_xlabel("true return on the hackable board (expected, per episode)")
    ax.set_ylabel("hack rate (% of start states)")
    ax.set_ylim(-3, 103)
    b = board["board"]
    ax.set_title(f"Safety-capability frontier: {b['rows']}x{b['cols']}, {b['boxes']} boxes "
                 "(circles exact solver, squares PPO; bars 95 % CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def dial_plots(board: dict[str, Any], out_dir: Path, stem: str) -> list[tuple[str, Path]]:
    """One figure per family with a strength: hack rate and true return against strength."""
    import matplotlib.pyplot as plt

    made = []
    for fam, (_field, label) in STRENGTH.items():
        rows = [r for r in board["methods"] if r["family"] == fam and r.get("hackable")
                and r["strength"] is not None]
        strengths = {r["strength"] for r in rows}
        if len(strengths) < 2:
            continue
        fig, (ax_h, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
        by_line: dict[tuple, list] = defaultdict(list)
        for r in rows:
            by_line[(r["algo"], r["horizon"])].append(r)
        for (algo, horizon), items in sorted(by_line.items(), key=lambda kv: (
                kv[0][0], 99 if kv[0][1] is None else kv[0][1])):
            items.sort(key=lambda r: r["strength"])
            xs = [r["strength"] for r in items]
            name = f"M={'full' if horizon is None else horizon} ({algo})"
            for ax, key, scale in ((ax_h, "hack", 100), (ax_r, "true_return", 1)):
                means = [r["hackable"][key]["mean"] * scale for r in items]
                lo = [r["hackable"][key]["lo"] * scale for r in items]
                hi = [r["hackable"][key]["hi"] * scale for r in items]
                line, = ax.plot(xs, means, marker="o", label=name)
                ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())
        if fam == "learned" or (fam.startswith("evaluator") and max(strengths) > 8):
            for ax in (ax_h, ax_r):
                ax.set_xscale("symlog" if min(strengths) == 0 else "log")
        ax_h.set_ylabel("hack rate (%)")
        ax_r.set_ylabel("true return (per episode)")
        for ax in (ax_h, ax_r):
            ax.set_xlabel(label)
            ax.grid(alpha=0.3)
        ax_h.legend(fontsize=8)
        fig.suptitle(f"{fam}: hack rate and true return against {label} (bands 95 % CI)")
        fig.tight_layout()
        path = out_dir / f"{stem}_dial_{fam}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append((fam, path))
    return made


def write_spectrum(runs: list[dict[str, Any]], out_dir: Path) -> tuple[str, list[dict]]:
    """Markdown section (with PNGs written into ``out_dir``) and the JSON numbers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    boards = analyse(runs)
    parts = ["## Approval spectrum", ""]
    for i, board in enumerate(boards):
        if not any(r.get("hackable") for r in board["methods"]):
            parts.append(tables_markdown(board))
            continue
        stem = f"spectrum{i}"
        frontier = frontier_plot(board, out_dir / f"{stem}_frontier.png")
        parts += [tables_markdown(board), f"![frontier]({frontier.name})", ""]
        for fam, path in dial_plots(board, out_dir, stem):
            parts += [f"![{fam} dial]({path.name})", ""]
    return "\n".join(parts), boards
