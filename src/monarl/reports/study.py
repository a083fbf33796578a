"""Markdown report (+ PNG plot, + JSON) of one exact horizon study (``monarl solve --out``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monarl.core.stats import bootstrap_ci
from monarl.reports.plots import describe_env, horizon_plot
from monarl.runtime.provenance import describe_machine, provenance


def _fmt_horizon(h: int | None) -> str:
    return "none (full)" if h is None else str(h)


def _ci_cell(row: dict[str, Any], key: str, percent: bool) -> str:
    values = [s[key] for s in row["per_seed"]]
    lo, hi = bootstrap_ci(values)
    scale = 100.0 if percent else 1.0
    unit = " %" if percent else ""
    mean = row[key] * scale
    if len(values) == 1 or lo == hi:
        return f"{mean:.1f}{unit}" if percent else f"{mean:.3f}"
    if percent:
        return f"{mean:.1f} [{lo * scale:.1f}, {hi * scale:.1f}]{unit}"
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def study_table(study: dict[str, Any]) -> str:
    """Markdown table: one row per horizon, mean [95 % bootstrap CI over seeds]."""
    lines = ["| M | fail | intended | hack | observed return | true return |",
             "|---|---|---|---|---|---|"]
    for row in study["results"]:
        cells = [_ci_cell(row, k, True) for k in ("fail", "intended", "hack")]
        cells += [_ci_cell(row, k, False) for k in ("observed_return", "true_return")]
        lines.append(f"| {_fmt_horizon(row['horizon'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _env_spec(env: dict[str, Any]) -> Any:
    from monarl.core.config import ConfigError
    from monarl.envs import ENVS

    try:
        return ENVS.get(env.get("env", env.get("name", "camera-dropbox")))
    except ConfigError:
        return None


def write_study_report(study: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``report.md``, ``horizon.png`` and ``results.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = horizon_plot(study, out_dir / "horizon.png")
    info = provenance()
    study = {**study, "provenance": info}
    (out_dir / "results.json").write_text(json.dumps(study, indent=2))
    env = study["env"]
    control = " (hack-free control)" if study.get("hack_free") else ""
    spec = _env_spec(env)
    title = str(env.get("env", "environment")) if spec is None else (spec.label or spec.name)
    settings = ", ".join(f"{k}={v}" for k, v in env.items() if k not in ("env", "name"))
    board = f"{describe_env(env)}{control}" + (f"; settings {settings}" if settings else "")
    lines = [
        f"# Exact horizon study: {title}",
        "",
        f"{board}; {study['states']:,} states, {study['initial_states']} start states.",
        f"Trained on the {study['reward']} reward with approval `{study['approval']}`"
        + (f" (noise sigma {study['noise']:g} per {study['noise_per']})"
           if study["approval"] != "none" else "")
        + f"; {study['seeds']} seed(s); ties broken `{study['tie_break']}`; window "
        f"`{study['window']}`.",
        "",
        "Fractions are over the start states (exact, no sampling); cells show the mean over "
        "seeds and, when seeds differ, the 95 % bootstrap confidence interval.",
        "",
        f"![outcomes against the optimization horizon]({plot.name})",
        "",
        study_table(study),
        "",
    ]
    if "baselines" in study:
        lines += ["Reference points (solved exactly):", ""]
        for name, label in (("ordinary_rl", "Ordinary RL (observed reward, full horizon)"),
                            ("true_optimum", "Optimum of the true reward")):
            b = study["baselines"][name]
            lines.append(f"- {label}: fail {b['fail']:.0%}, intended {b['intended']:.0%}, "
                         f"hack {b['hack']:.0%}; observed return {b['observed_return']:.3f}, "
                         f"true return {b['true_return']:.3f}, "
                         f"{b['episode_length']:.1f} steps per episode.")
        lines.append("")
    lines += [
        "## Provenance",
        "",
        f"- Command: `{info['command']}`",
        f"- Machine: {describe_machine(info['machine'])}",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in info['versions'].items())}",
        f"- Git commit: {info['git'] or 'not a git checkout'}",
        f"- Wall time: {study['wall_seconds']:.2f} s",
        "",
    ]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return {"report": report, "plot": plot, "json": out_dir / "results.json"}
