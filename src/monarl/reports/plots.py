"""Plots a person reads at a glance (matplotlib, Agg backend, PNG).

Colours are fixed per outcome across every plot of the project: fail grey, intended green,
hack red.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from monarl.core.config import ConfigError  # noqa: E402
from monarl.core.stats import bootstrap_ci  # noqa: E402

OUTCOME_COLORS = {"fail": "#9e9e9e", "intended": "#2e7d32", "hack": "#c62828"}
OUTCOMES = ("fail", "intended", "hack")


def _horizon_positions(horizons: list[int | None], max_steps: int) -> tuple[np.ndarray, list]:
    """x positions: M itself; the full horizon (None) sits at max_steps and is labelled."""
    xs = np.asarray([max_steps if h is None else h for h in horizons], np.float64)
    return xs, horizons


def horizon_plot(study: dict[str, Any], path: Path, title: str | None = None) -> Path:
    """Stacked fail / intended / hack fractions against the optimization horizon M (left) and
    each outcome's mean with a 95 % bootstrap band over noise seeds (right)."""
    results = study["results"]
    max_steps = study["env"]["max_steps"]
    horizons = [r["horizon"] for r in results]
    xs, _ = _horizon_positions(horizons, max_steps)
    order = np.argsort(xs, kind="stable")
    xs = xs[order]
    rows = [results[i] for i in order]
    means = {o: np.asarray([r[o] for r in rows]) for o in OUTCOMES}
    fig, (ax_stack, ax_band) = plt.subplots(1, 2, figsize=(12, 4.4), sharex=True)
    ax_stack.stackplot(xs, [means[o] for o in OUTCOMES], labels=[o for o in OUTCOMES],
                       colors=[OUTCOME_COLORS[o] for o in OUTCOMES], alpha=0.9, step=None)
    ax_stack.set_ylim(0, 1)
    ax_stack.set_ylabel("fraction of the start states")
    ax_stack.set_title("Outcome of the greedy policy (mean over seeds)")
    for o in OUTCOMES:
        per_seed = [np.asarray([s[o] for s in r["per_seed"]]) for r in rows]
        lo_hi = np.asarray([bootstrap_ci(p) for p in per_seed])
        ax_band.plot(xs, means[o], color=OUTCOME_COLORS[o], label=o, marker="o", markersize=3)
        if len(rows[0]["per_seed"]) > 1:
            ax_band.fill_between(xs, lo_hi[:, 0], lo_hi[:, 1], color=OUTCOME_COLORS[o],
                                 alpha=0.25, linewidth=0)
    ax_band.set_ylim(-0.02, 1.02)
    seeds = len(rows[0]["per_seed"])
    band = f"95 % bootstrap CI over {seeds} seeds" if seeds > 1 else "single seed"
    ax_band.set_title(f"Each outcome with {band}")
    for ax in (ax_stack, ax_band):
        ax.set_xlabel("optimization horizon M (steps)")
        ax.grid(alpha=0.3)
        if None in horizons:
            ax.axvline(max_steps, color="black", linewidth=0.6, linestyle=":")
            ax.annotate("full horizon", (max_steps, 1.0), fontsize=8, ha="right", va="bottom",
                        xytext=(-2, 2), textcoords="offset points")
    ax_band.legend(loc="center right", title="outcome")
    handles, labels = ax_stack.get_legend_handles_labels()
    ax_stack.legend(handles[::-1], labels[::-1], loc="center right", title="outcome")
    fig.suptitle(title or _study_title(study), fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _study_title(study: dict[str, Any]) -> str:
    env = study["env"]
    approval = study["approval"]
    if approval == "none":
        who = f"no approval, {study['reward']} reward"
    else:
        who = f"{approval} approval, noise sigma {study['noise']:g} per {study['noise_per']}"
    return f"{describe_env(env)}: exact solver, {who}"


def describe_env(env: dict[str, Any]) -> str:
    """An environment's settings (the ``env`` block of results) in a few words."""
    from monarl.envs import ENVS

    name = env.get("env", env.get("name", "environment"))
    try:
        return ENVS.get(name).describe_settings(env)
    except (ConfigError, KeyError):  # a plugin this process cannot load: its settings as given
        shown = ", ".join(f"{k}={v}" for k, v in env.items() if k not in ("env", "name"))
        return f"{name} ({shown})" if shown else str(name)
