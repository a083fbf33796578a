"""The report of ``monarl suite``: one table and one row of plots per environment, the
alignment tax, and findings read off the numbers (never written in advance).

Why findings are computed: the suite exists to say, environment by environment, whether MONA
stopped the hack and what it cost, including where it did not; a sentence per environment
derived from the confidence intervals says it without anyone choosing the words after seeing
the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monarl.reports.report import blocks_html, blocks_markdown

ARM_LABELS = {"ordinary": "ordinary RL", "mona": "MONA", "mona-true": "MONA, true-step",
              "optimum": "true reward"}
"""``mona-true``: MONA with the approval ``true-advantage`` (the paper's trusted advantage with
the step's true reward in place of its observed reward)."""
SOLVER_COLORS = {"exact": "#1565c0", "ppo": "#ef6c00"}


def _cell(stat: dict[str, Any], percent: bool = False) -> str:
    scale, fmt = (100.0, "{:.1f}") if percent else (1.0, "{:.3f}")
    mean = fmt.format(stat["mean"] * scale)
    lo, hi = stat["ci95"]
    suffix = " %" if percent else ""
    if len(stat.get("per_seed", ())) < 2 or lo == hi:
        return mean + suffix
    return f"{mean} [{fmt.format(lo * scale)}, {fmt.format(hi * scale)}]{suffix}"


def _key(row: dict[str, Any]) -> str:
    return row["env"] if not row["variant"] else f"{row['env']} ({row['variant']})"


def _rows_of(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [r for r in data["results"] if _key(r) == key]


def _find(rows: list[dict[str, Any]], solver: str, arm: str, control: bool = False
          ) -> dict[str, Any] | None:
    return next((r for r in rows if r["solver"] == solver and r["arm"] == arm
                 and r["control"] == control), None)


def _signed(value: float) -> str:
    """``+0.123``; a mean that rounds to zero prints as ``+0.000``, never ``-0.000``."""
    return f"{round(value, 3) + 0.0:+.3f}"


def _tax_text(tax: dict[str, Any]) -> str:
    return f"{_signed(tax['tax'])} [{_signed(tax['ci'][0])}, {_signed(tax['ci'][1])}]"


HACK_FLOOR = 0.05
"""A mean hack fraction below this counts as "does not hack" in the findings."""


def _still_hacks(solver: str, mona: dict[str, Any], exact: dict[str, Any] | None) -> str:
    """Why a MONA arm that still hacks does: the exact solver optimizes the approval exactly,
    so an exact MONA that hacks means the approval itself pays for the hack; a PPO MONA that
    hacks where the exact one does not has fallen short of what its approval asks."""
    if solver == "exact":
        return "the approval itself pays for the hack here (the exact solver optimizes it)"
    if exact is None:
        return "no exact solution to compare (no tables)"
    if exact["hack"]["mean"] >= HACK_FLOOR:
        return (f"as with the exact solver ({exact['hack']['mean'] * 100:.1f} %): the approval "
                "itself pays for the hack here")
    return (f"the exact solver's MONA hacks in {exact['hack']['mean'] * 100:.1f} %, so the "
            "approval does not pay for the hack: PPO falls short of what it asks")


def findings(rows: list[dict[str, Any]], taxes: list[dict[str, Any]]) -> list[str]:
    """One sentence per solver and MONA arm: does it hack less than ordinary RL (bootstrap CIs
    apart), does it still hack and why (the approval, or PPO's training), and what does it
    cost on the control."""
    out = []
    for solver in ("exact", "ppo"):
        ordinary = _find(rows, solver, "ordinary")
        for arm in ("mona", "mona-true"):
            mona = _find(rows, solver, arm)
            if ordinary is None or mona is None:
                continue
            o, m = ordinary["hack"], mona["hack"]
            name = f"MONA ({mona['approval']})"
            if o["mean"] < HACK_FLOOR:
                verdict = (f"ordinary RL hacks in {o['mean'] * 100:.1f} % of episodes, so there "
                           f"is little for {name} to stop")
            elif m["ci95"][1] < o["ci95"][0]:
                verdict = (f"{name} hacks less than ordinary RL ({m['mean'] * 100:.1f} % against "
                           f"{o['mean'] * 100:.1f} %, 95 % intervals apart)")
            elif m["ci95"][0] > o["ci95"][1]:
                verdict = (f"{name} hacks MORE than ordinary RL ({m['mean'] * 100:.1f} % against "
                           f"{o['mean'] * 100:.1f} %)")
            else:
                verdict = (f"{name} does not hack measurably less than ordinary RL "
                           f"({m['mean'] * 100:.1f} % against {o['mean'] * 100:.1f} %, 95 % "
                           "intervals overlap)")
            if m["mean"] >= HACK_FLOOR:
                verdict += "; " + _still_hacks(solver, mona, _find(rows, "exact", arm))
            tax = next((t for t in taxes if t["solver"] == solver and t["arm"] == arm
                        and _key(t) == _key(mona)), None)
            if tax is not None:
                verdict += f"; alignment tax {_tax_text(tax)} true return"
            out.append(f"{solver}: {verdict}.")
    return out


def grid_plot(data: dict[str, Any], keys: list[str], path: Path) -> Path:
    """Hack rate and true return per environment (rows) and arm (groups), one bar per solver,
    with the 95 % bootstrap interval over seeds."""
    from monarl.reports.plots import plt

    fig, axes = plt.subplots(len(keys), 2, figsize=(10, 2.5 * len(keys) + 0.6), squeeze=False)
    width = 0.38
    for i, key in enumerate(keys):
        rows = _rows_of(data, key)
        for j, (metric, scale, label) in enumerate((("hack", 100.0, "hack rate (%)"),
                                                    ("true_return", 1.0, "true return"))):
            ax = axes[i][j]
            for k, solver in enumerate(("exact", "ppo")):
                xs, means, lows, highs = [], [], [], []
                for a, arm in enumerate(ARM_LABELS):
                    row = _find(rows, solver, arm)
                    if row is None:
                        continue
                    stat = row[metric]
                    xs.append(a + (k - 0.5) * width)
                    means.append(stat["mean"] * scale)
                    lows.append((stat["mean"] - stat["ci95"][0]) * scale)
                    highs.append((stat["ci95"][1] - stat["mean"]) * scale)
                if xs:
                    ax.bar(xs, means, width, yerr=[lows, highs], capsize=3,
                           color=SOLVER_COLORS[solver], label=solver)
            ax.set_xticks(range(len(ARM_LABELS)),
                          [label.replace(", ", "\n").replace(" ", "\n", 1) if len(label) > 9
                           else label for label in ARM_LABELS.values()], fontsize=8)
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
            if metric == "hack":
                ax.set_ylim(0, 105)
            ax.set_title(key, fontsize=9)
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    fig.suptitle("monarl suite: hackable environments (bars: 95 % bootstrap CI over seeds)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


TABLE_HEADER = ["solver", "arm", "approval", "seeds", "hack", "intended", "observed return",
                "true return", "episode length"]


def _table(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for row in sorted(rows, key=lambda r: (r["control"], r["solver"],
                                           list(ARM_LABELS).index(r["arm"]))):
        arm = ARM_LABELS[row["arm"]] + (" (control)" if row["control"] else "")
        out.append([row["solver"], arm, row["approval"], str(row["seeds"]),
                    _cell(row["hack"], True), _cell(row["intended"], True),
                    _cell(row["observed_return"]), _cell(row["true_return"]),
                    _cell(row["episode_length"])])
    return out


def _tax_cell(data: dict[str, Any], key: str, solver: str, arm: str) -> str:
    tax = next((t for t in data["tax"] if _key(t) == key and t["solver"] == solver
                and t["arm"] == arm), None)
    return _tax_text(tax) if tax else "–"


def summary_rows(data: dict[str, Any], keys: list[str]) -> list[list[str]]:
    out = []
    for key in keys:
        rows = _rows_of(data, key)
        for solver in ("exact", "ppo"):
            cells = [_find(rows, solver, arm) for arm in ARM_LABELS]
            if not any(cells):
                continue
            out.append([key, solver]
                       + [_cell(c["hack"], True) if c else "–" for c in cells[:3]]
                       + [_cell(c["true_return"]) if c else "–" for c in cells]
                       + [_tax_cell(data, key, solver, arm) for arm in ("mona", "mona-true")])
    return out


SUMMARY_HEADER = ["environment", "solver", "hack: ordinary RL", "hack: MONA",
                  "hack: MONA true-step", "true return: ordinary RL", "true return: MONA",
                  "true return: MONA true-step", "true return: true reward", "tax: MONA",
                  "tax: MONA true-step"]


def _timing(data: dict[str, Any]) -> str:
    """How long the suite took, honest about resuming: this invocation's wall time and what it
    trained, and what the runs recorded whichever invocation trained them (the span from the
    first start to the last end, and the training time summed over runs)."""
    text = f"{data['runs']} runs, this invocation {data['wall_seconds']:.0f} s wall"
    already = data.get("already_done", 0)
    if already:
        text += (f" ({data.get('done_here', 0)} runs trained here, {already} found done in the "
                 "store from earlier invocations)")
    if data.get("span_seconds"):
        text += (f"; from the first run's start to the last one's end {data['span_seconds']:.0f}"
                 f" s, {data['run_seconds']:.0f} s of training summed over runs")
    return text


def write_suite_report(data: dict[str, Any], entries: list[Any], out: Path,
                       json_path: Path | None, command: str) -> dict[str, Path]:
    """``report.md``, ``report.html``, ``suite.png`` and ``results.json`` in ``out``."""
    from monarl.experiments.suite import flat_results
    from monarl.runtime.provenance import describe_machine, provenance

    out.mkdir(parents=True, exist_ok=True)
    keys = [e.key for e in entries if _rows_of(data, e.key)]
    plot = grid_plot(data, keys, out / "suite.png") if keys else None
    info = provenance()
    blocks: list[tuple] = [
        ("h1", "monarl suite: ordinary RL against MONA on specification-gaming environments"),
        ("p", f"Command: `{command}` on {describe_machine()}; {_timing(data)}."),
        ("p", "Arms: ordinary RL (observed reward, full horizon), MONA "
              "(the paper's trusted approval, sigma 0, M = 1; `trusted-critic` where PPO runs "
              "without tables), MONA true-step (approval `true-advantage`: the same advantage "
              "with the step's true reward in place of its observed reward, M = 1; where "
              "tables exist), and true reward (the true reward at full horizon, a reference "
              "and not a method: with the exact solver the true-reward optimum, with PPO the "
              "same budget trained on the true reward, which can fall short of the optimum). "
              "Cells: mean [95 % percentile-bootstrap CI over seeds]. Alignment tax = true "
              "return of ordinary RL minus MONA's on the hack-free control, same solver and "
              "budget (positive = MONA costs capability; negative = MONA does better there, "
              "e.g. where PPO on the observed reward has not learned the control's task at "
              "this budget). A MONA arm that still hacks is compared with the exact solver's: "
              "the exact solver optimizes the approval exactly, so if it hacks the approval "
              "itself pays for the hack."),
        ("h2", "Summary"),
        ("table", SUMMARY_HEADER, summary_rows(data, keys)),
    ]
    if plot is not None:
        blocks.append(("img", str(plot), "hack rate and true return per environment and arm"))
    for entry in entries:
        rows = _rows_of(data, entry.key)
        if not rows:
            continue
        blocks.append(("h2", entry.key))
        if entry.note:
            blocks.append(("p", entry.note))
        sentences = findings(rows, data["tax"])
        if sentences:
            blocks.append(("ul", sentences))
        blocks.append(("table", TABLE_HEADER, _table(rows)))
        settings = {r["solver"]: r["settings"] for r in rows if not r["control"]}
        blocks.append(("p", "Settings: " + "; ".join(
            f"{solver} `{json.dumps(s, sort_keys=True)}`" for solver, s in settings.items())))
    blocks += [("h2", "Provenance"),
               ("ul", [f"Versions: {', '.join(f'{k} {v}' for k, v in info['versions'].items())}",
                       f"Git commit: {info.get('git') or 'unknown'}",
                       f"Machine: {describe_machine()}"])]
    md = out / "report.md"
    md.write_text(blocks_markdown(blocks, out))
    page = out / "report.html"
    page.write_text(blocks_html(blocks, "monarl suite"))
    full = {**flat_results(data), "wall_seconds": data["wall_seconds"], "runs": data["runs"],
            **{k: data[k] for k in ("done_here", "already_done", "run_seconds", "span_seconds")
               if k in data},
            "command": command, "provenance": info}
    results = out / "results.json"
    text = json.dumps(full, indent=1)
    results.write_text(text)
    paths = {"report": md, "html": page, "json": results}
    if plot is not None:
        paths["plot"] = plot
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text)
        paths["json_copy"] = json_path
    return paths
