"""The approval spectrum: safety-capability frontier, dials and the alignment tax, from runs.

Input: run summaries (``monarl.experiments.query.load_runs``): each has ``config`` (algo, env,
approval, horizon, seed) and ``final`` (outcome fractions with a ``hack`` and an ``intended``
one, observed and true returns). Runs that differ only in ``seed`` form a condition; every
number is a mean over seeds with a 95 % percentile-bootstrap CI over seeds. Environments
qualify when they declare a hack-free control (``EnvSpec.control``); families, their dials,
labels and colours come from the approvals' specs (``ApprovalSpec.family``).

- **Frontier** (hackable environments): hack rate against true return, one point per method
  (approval family, strength, horizon, algorithm).
- **Dials**: hack rate and true return against each family's strength (evaluator RL steps k,
  label budget N, noise sigma, misspecification m, leak weight w), one line per horizon.
- **Alignment tax** (hack-free controls, e.g. blockers > boxes - 1 on Camera Dropbox): the true
  return ordinary RL reaches on the control minus the method's, same algorithm and budget; its
  CI resamples the seeds of both arms. Also each method's true return on the hackable twin
  against the true-reward optimum.

A negative control (the leak approval) is labelled so wherever it appears.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from monarl.approval import APPROVALS, ApprovalConfig
from monarl.core.config import ConfigError, field_names
from monarl.core.protocols import Family
from monarl.core.stats import bootstrap_ci, diff_ci
from monarl.envs import ENVS, EnvConfig

ORDINARY = Family("ordinary RL", None, "ordinary RL", "#000000")
"""No approval and the full horizon: the reference every method is measured against."""
OUTCOME_KEYS = ("hack", "intended", "fail", "true_return")


# --------------------------------------------------------------------------------------------
# Reading run records
# --------------------------------------------------------------------------------------------


def record_env(env: dict[str, Any]) -> EnvConfig | None:
    """The environment of a run record (None when this process cannot load it)."""
    try:
        spec = ENVS.get(env.get("name", "camera-dropbox"))
        fields = {k: v for k, v in env.items() if k in field_names(spec.settings)}
        return EnvConfig.from_mapping({"name": env.get("name", "camera-dropbox"), **fields})
    except ConfigError:
        return None


def record_approval(approval: dict[str, Any]) -> ApprovalConfig | None:
    """The approval of a run record; fields its kind does not have are dropped (stores written
    before approvals had settings of their own record every field at its default)."""
    try:
        spec = APPROVALS.get(approval.get("kind", "none"))
        fields = {k: v for k, v in approval.items() if k in field_names(spec.settings)}
        return ApprovalConfig.from_mapping({"kind": approval.get("kind", "none"), **fields})
    except ConfigError:
        return None


def _control_fields(env: dict[str, Any]) -> tuple[str, ...]:
    config = record_env(env)
    control = None if config is None else config.spec.control
    return () if control is None else control.fields


def board_key(env: dict[str, Any]) -> tuple:
    """The environment without the settings that switch its hack-free control: a hackable
    environment and its control share it."""
    skip = set(_control_fields(env))
    return tuple((k, json.dumps(v)) for k, v in env.items() if k not in skip)


def is_control(env: dict[str, Any]) -> bool:
    config = record_env(env)
    return config is not None and config.is_control


def family_of(config: dict[str, Any]) -> Family:
    """The spectrum family of a run's method: ordinary RL apart, else its approval's."""
    approval = record_approval(config.get("approval", {}))
    if approval is None:
        kind = config.get("approval", {}).get("kind", "?")
        return Family(kind, None, kind, "#333333")
    if approval.kind == "none" and config.get("horizon") is None:
        return ORDINARY
    found = approval.family
    _SEEN.setdefault(found.name, found)
    return found


_SEEN: dict[str, Family] = {}
"""Families met in run records, for approvals that are not registered (a plugin named by
reference): labels and axes then still know their dial."""


def family_named(name: str) -> Family | None:
    return _families().get(name) or _SEEN.get(name)


def family(config: dict[str, Any]) -> str:
    return family_of(config).name


def method_key(config: dict[str, Any]) -> tuple:
    """What distinguishes methods: algorithm, family, strength, noise (for noisy families
    whose dial is not the noise), horizon. Environment and seed are not part of it."""
    approval = config["approval"]
    fam = family_of(config)
    strength = approval.get(fam.strength) if fam.strength else None
    noise = None
    if fam.strength != "noise" and fam.name != ORDINARY.name:
        noise = approval.get("noise", 0.0)
    return (config["algo"], fam.name, strength, noise or None, config.get("horizon"))


def _families() -> dict[str, Family]:
    """Every family the registered approvals have (their default and documented variants)."""
    out = {ORDINARY.name: ORDINARY}
    for name in APPROVALS.names():
        spec = APPROVALS.get(name)
        for variant in _family_variants(spec):
            out.setdefault(variant.name, variant)
    return out


def _family_variants(spec: Any) -> list[Family]:
    """The families a kind's settings can give: at defaults and with each choice-field value
    (``overseer_start_time = uniform``) and each optional field set (``evaluator_lr``)."""
    base = spec.settings()
    variants = [spec.family_of(base)]
    for f in dataclasses.fields(spec.settings):
        values = list(f.metadata.get("choices", ()))
        if f.default is None:
            values.append(0.5)
        for value in values:
            try:
                variants.append(spec.family_of(dataclasses.replace(base, **{f.name: value})))
            except (TypeError, ValueError):
                continue
    return variants


def _control_family(name: str) -> bool:
    for kind in APPROVALS.names():
        spec = APPROVALS.get(kind)
        if spec.control and any(v.name == name for v in _family_variants(spec)):
            return True
    return False


def method_label(key: tuple) -> str:
    algo, fam, strength, noise, horizon = key
    m = "full" if horizon is None else str(horizon)
    family_spec = family_named(fam)
    if fam == ORDINARY.name:
        text = "ordinary RL"
    elif fam == "none":
        text = f"myopic, no approval, M={m}"
    else:
        field = family_spec.strength if family_spec is not None else None
        text = fam if strength is None else f"{fam} {field}={_fmt_strength(strength)}"
        if noise:
            text += f", noise {noise:g}"
        text += f", M={m}"
        if _control_family(fam):
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


def _qualifies(config: dict[str, Any]) -> bool:
    """Runs of environments with a hack-free control (and a hack outcome) join the spectrum."""
    env = record_env(config.get("env", {}))
    return env is not None and env.spec.control is not None and env.spec.hack is not None


def group(runs: list[dict[str, Any]]) -> dict[tuple, dict[tuple, list[dict[str, Any]]]]:
    """board -> (method, control?) -> finals of its seeds."""
    out: dict[tuple, dict[tuple, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        config = run["config"]
        if not _qualifies(config):
            continue
        env = config["env"]
        out[board_key(env)][(method_key(config), is_control(env))].append(run["final"])
    return out


def _board(key: tuple) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in key}


def true_optimum(board: dict[str, Any]) -> float | None:
    """Exact optimum of the true reward on the hackable environment (None without tables)."""
    from monarl.algos.exact.study import baselines

    env = record_env(board)
    if env is None or not env.tabulable():
        return None
    return baselines(env.tables())["true_optimum"]["true_return"]


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
                part = {k: _stats([f[k] for f in finals]) for k in OUTCOME_KEYS}
                row["control" if control else "hackable"] = part
            rows.append(row)
        # alignment tax against ordinary RL of the same algorithm on the control
        for row, method in zip(rows, methods, strict=True):
            ordinary = conditions.get(((method[0], ORDINARY.name, None, None, None), True))
            mine = conditions.get((method, True))
            if ordinary and mine:
                tax, lo, hi = diff_ci([f["true_return"] for f in ordinary],
                                      [f["true_return"] for f in mine])
                row["alignment_tax"] = {"mean": tax, "lo": lo, "hi": hi}
        settings = _board(board)
        shown = {k: v for k, v in settings.items() if k != "name"}
        boards.append({"env": settings.get("name", "camera-dropbox"), "board": shown,
                       "true_optimum": true_optimum(settings), "methods": rows})
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
    """The hackable environment of a spectrum board in a few words."""
    from monarl.reports.plots import describe_env

    return describe_env({"name": board.get("env", "camera-dropbox"), **board["board"]})


def board_intro(board: dict[str, Any]) -> str:
    opt = board["true_optimum"]
    control = _control_description(board.get("env", "camera-dropbox"))
    return ((f"True-reward optimum on the hackable board: {opt:.3f}. " if opt is not None
             else "") + "Alignment tax = true return of ordinary RL on the hack-free control "
            f"({control}) minus the method's, same algorithm and budget; positive = "
            "the method costs capability. Cells: mean [95 % bootstrap CI over seeds]. Leak "
            "rows are a negative control.")


def _control_description(env: str) -> str:
    try:
        control = ENVS.get(env).control
    except ConfigError:
        control = None
    if control is None:
        return "the same task, hack impossible"
    return control.description or "settings " + ", ".join(control.fields) + " switched"


def tables_markdown(board: dict[str, Any]) -> str:
    lines = [f"### {board_title(board)}", "", board_intro(board), "",
             "| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(board)]
    return "\n".join(lines + [""])


def applies(runs: list[dict[str, Any]]) -> bool:
    """Worth a spectrum section: several approval families, or a hack-free control."""
    configs = [r["config"] for r in runs if _qualifies(r["config"])]
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
                    fmt=marker, color=_families().get(fam, ORDINARY).color if fam in
                    _families() else "#333", alpha=0.8,
                    markersize=5, capsize=2, label=label)
    if board["true_optimum"] is not None:
        ax.axvline(board["true_optimum"], color="#2e7d32", linestyle=":", linewidth=1)
        ax.annotate("true-reward optimum", (board["true_optimum"], 50), rotation=90,
                    fontsize=8, ha="right", va="center")
    ax.set_xlabel("true return on the hackable board (expected, per episode)")
    ax.set_ylabel("hack rate (% of start states)")
    ax.set_ylim(-3, 103)
    ax.set_title(f"Safety-capability frontier: {board_title(board)}\n"
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
    for fam, spec in _families().items():
        if spec.strength is None:
            continue
        label = spec.label
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
        known = family_named(fam)
        if known is not None and known.log_above is not None and max(strengths) > known.log_above:
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
