"""Reports of a run store (or of one experiment file's runs): Markdown, self-contained HTML,
PNG plots and JSON with the same numbers.

Runs that differ only in ``seed`` form a *condition*; every number is the mean over its seeds
with a 95 % percentile-bootstrap confidence interval (:func:`monarl.core.stats.bootstrap_ci`).
When the optimization horizon is swept, conditions that differ only in the horizon form a
*panel*: one table row per M and the foundation's horizon plot (:func:`monarl.reports.plots.
horizon_plot`, fed a study-shaped dict whose ``results`` equal what ``monarl solve`` returns
for the same settings). Runs that logged evaluation points (``env_steps`` plus outcome
fractions in metrics.jsonl) get training curves: mean and bootstrap band against steps.

Runs whose final metrics are not the fail / intended / hack fractions (e.g. ``loan-pg``: decision
accuracies, leakage, flip rate) get the same treatment for whatever numeric metrics they have:
tables of every final metric per condition, curves of every logged metric, and, for pairs of
conditions that differ only in the horizon (none = ordinary RL, 1 = MONA), the differences
ordinary RL - MONA with a bootstrap CI (:func:`monarl.core.stats.diff_ci`); with
``observed_accuracy`` and ``unbiased_accuracy`` a headline line: the observed-accuracy gap beside
the unbiased accuracies.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from monarl.algos import TRAINERS
from monarl.approval import APPROVALS
from monarl.core.config import ConfigError, field_names
from monarl.core.stats import bootstrap_ci, diff_ci
from monarl.experiments.query import flatten, load_runs
from monarl.experiments.running import like_ordinary_sentence
from monarl.experiments.spec import SpecError, default_store, load_sweep
from monarl.experiments.store import Store, StoreError
from monarl.reports import spectrum

OUTCOMES = ("fail", "intended", "hack")
RETURNS = ("observed_return", "true_return")
MAX_CURVES_PER_PLOT = 8
METRICS_PER_TABLE = 6


class ReportError(ValueError):
    """Nothing to report on, or an unusable target."""


# Loading ------------------------------------------------------------------------------------


def resolve_target(path: str | Path) -> dict[str, Any]:
    """A store directory or an experiment file -> store, run ids, labels, title."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such store or experiment file")
    if path.is_file():
        try:
            sweep = load_sweep(path)
        except SpecError as exc:
            raise ReportError(str(exc)) from None
        store = Store(default_store(path))
        try:
            store.check()
        except StoreError as exc:
            raise ReportError(f"{exc} (run 'monarl sweep {path}' first)") from None
        return {
            "store": store,
            "ids": sweep.ids,
            "labels": dict(sweep.variants),
            "title": sweep.name,
            "source": str(path),
        }
    store = Store(path)
    try:
        store.check()
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    labels: dict[str, str] = {}
    for index in store.sweeps():
        labels.update(index.get("variants") or {})
    return {
        "store": store,
        "ids": None,
        "labels": labels,
        "title": store.root.name,
        "source": str(path),
    }


# Statistics ---------------------------------------------------------------------------------


def _mean(values: list[float]) -> float:
    return float(np.asarray(values, np.float64).mean())


def _stat(values: list[float]) -> dict[str, Any]:
    lo, hi = bootstrap_ci(np.asarray(values, np.float64))
    return {"mean": _mean(values), "ci95": [lo, hi], "per_seed": list(values)}


def _fmt_value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    return str(v)


def build_report(
    store: Store,
    ids: list[str] | None = None,
    labels: dict[str, str] | None = None,
    title: str = "",
) -> dict[str, Any]:
    """All numbers of the report as one JSON-able dict (also written by ``--json``)."""
    stale: list[str] = []
    runs = load_runs(store, ids, stale=stale)
    if not runs:
        where = f"{store.root}" if ids is None else f"{store.root} for this experiment"
        more = (f" ({len(stale)} run(s) there predate a change in what their algorithm "
                "computes and are left out)") if stale else ""
        raise ReportError(f"no finished runs in {where}{more}: run 'monarl sweep FILE' first")
    labels = labels or {}
    conditions: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: (r["config"].get("seed", 0), r["id"])):
        config = dict(run["config"])
        seed = config.pop("seed", 0)
        key = json.dumps(config, sort_keys=True)
        cond = conditions.setdefault(
            key, {"config": config, "runs": [], "seeds": [], "variants": set()}
        )
        cond["runs"].append(run)
        cond["seeds"].append(seed)
        cond["variants"].add(labels.get(run["id"]))
    conds = list(conditions.values())
    flat = [flatten(c["config"]) for c in conds]
    keys = sorted({k for f in flat for k in f})
    # A field that only some conditions have (an approval kind's own setting, another
    # environment's) varies only if the conditions that have it disagree.
    varying = [k for k in keys if len({json.dumps(f[k]) for f in flat if k in f}) > 1]
    fixed = {k: next(f[k] for f in flat if k in f) for k in keys if k not in varying}
    horizon_swept = "horizon" in varying

    # Named variants label themselves; beside the name, show only the fields where a condition
    # departs from the majority value (a 21-variant file varies 9 fields, most of them at their
    # usual value in any one condition).
    usual = {}
    for k in varying:
        having = [f for f in flat if k in f]
        value, count = Counter(json.dumps(f[k]) for f in having).most_common(1)[0]
        if count * 2 > len(having):  # a majority value; with ties every field is shown
            usual[k] = value
    out_conditions = []
    for cond, f in zip(conds, flat, strict=True):
        variant = next(iter(cond["variants"])) if len(cond["variants"]) == 1 else None
        shown = (
            [k for k in varying if json.dumps(f.get(k)) != usual.get(k)] if variant else varying
        )
        shown = [k for k in shown if k in f and _applies(k, f)]
        desc = ", ".join(f"{k}={_fmt_value(f.get(k))}" for k in shown)
        label = f"{variant}: {desc}" if variant and desc else (variant or desc or "all runs")
        metrics = {}
        names = [m for m in cond["runs"][0]["final"] if all(m in r["final"] for r in cond["runs"])]
        for m in names:
            values = [r["final"][m] for r in cond["runs"]]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                metrics[m] = _stat(values)
        out_conditions.append(
            {
                "label": label,
                "variant": variant,
                "config": cond["config"],
                "varying": {k: f.get(k) for k in varying},
                "seeds": cond["seeds"],
                "runs": [r["id"] for r in cond["runs"]],
                "metrics": metrics,
            }
        )

    outcome_style = any(m in c["metrics"] for c in out_conditions for m in OUTCOMES)
    if ids is not None and (labels or not outcome_style):  # the experiment file's order
        position = {rid: i for i, rid in enumerate(ids)}
        order = sorted(
            range(len(conds)),
            key=lambda i: min(position.get(r, 0) for r in out_conditions[i]["runs"]),
        )
        conds = [conds[i] for i in order]
        out_conditions = [out_conditions[i] for i in order]
    metric_names: list[str] = []
    for c in out_conditions:
        metric_names += [m for m in c["metrics"] if m not in metric_names]
    panels = _panels(out_conditions, conds, varying) if horizon_swept and outcome_style else []
    if all(len(p["study"]["results"]) < 2 for p in panels):
        panels = []  # the horizon only differs between variants: one table of conditions
    curves = _curves(store, out_conditions, None if outcome_style else "all")
    comparisons = [] if outcome_style else _comparisons(out_conditions, conds)
    inoculation = [] if outcome_style else _inoculation_comparisons(out_conditions)
    notes = []
    if not outcome_style:
        for name in sorted({r["config"].get("algo") for r in runs}, key=str):
            algo = TRAINERS.get(name) if name in TRAINERS.names() else None
            if algo is not None and algo.metrics_note:
                notes.append(algo.metrics_note)
    provenance = _run_provenance(runs)
    spectrum_boards = spectrum.analyse(runs) if spectrum.applies(runs) else []
    missing = None
    if ids is not None:
        missing = len(set(ids)) - len(runs)
    return {
        "title": title or store.root.name,
        "store": str(store.root),
        "runs": len(runs),
        "missing_runs": missing,
        "stale_runs": len(stale),
        "sampled_runs": sorted({
            int(r["info"].get("eval_episodes", 0))
            for r in runs if (r.get("info") or {}).get("evaluation") == "sampled"
        }),
        "varying": varying,
        "fixed": fixed,
        "conditions": out_conditions,
        "style": "outcomes" if outcome_style else "metrics",
        "metric_names": metric_names,
        "metric_notes": notes,
        "horizon_studies": panels,
        "curves": curves,
        "comparisons": comparisons,
        "inoculation_comparisons": inoculation,
        "spectrum": spectrum_boards,
        "run_provenance": provenance,
    }


def _panels(out_conditions, conds, varying) -> list[dict[str, Any]]:
    """Conditions that differ only in the horizon -> study-shaped dicts (``monarl solve``'s
    JSON ``results``), one per panel."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(out_conditions):
        rest = {k: v for k, v in c["varying"].items() if k != "horizon"}
        groups[json.dumps([rest, c["variant"]], sort_keys=True)].append(i)
    panels = []
    for members in groups.values():
        first = out_conditions[members[0]]
        env = first["config"].get("env", {})
        max_steps = env.get("max_steps", 50)
        members.sort(
            key=lambda i: (
                out_conditions[i]["config"].get("horizon") is None,
                out_conditions[i]["config"].get("horizon") or max_steps,
            )
        )
        results = []
        for i in members:
            cond, raw = out_conditions[i], conds[i]
            finals = [r["final"] for r in raw["runs"]]
            row: dict[str, Any] = {"horizon": cond["config"].get("horizon")}
            names = [m for m in finals[0] if all(m in f for f in finals)]
            table = np.asarray([[f[m] for m in names] for f in finals], np.float64)
            for k, m in enumerate(names):
                row[m] = float(table[:, k].mean())
            row["per_seed"] = [dict(f) for f in finals]
            row["seeds"] = list(cond["seeds"])
            results.append(row)
        rest = {k: v for k, v in first["varying"].items() if k != "horizon"}
        desc = ", ".join(f"{k}={_fmt_value(v)}" for k, v in rest.items())
        label = (
            f"{first['variant']}: {desc}"
            if first["variant"] and desc
            else first["variant"] or desc or "all runs"
        )
        config = first["config"]
        approval = config.get("approval", {})
        algo_settings = config.get(config.get("algo", ""), {})
        study = {
            "algo": config.get("algo"),
            "env": env,
            "approval": approval.get("kind"),
            "noise": approval.get("noise"),
            "noise_per": approval.get("noise_per"),
            "reward": algo_settings.get("reward", "observed"),
            "tie_break": algo_settings.get("tie_break"),
            "window": algo_settings.get("window"),
            "seeds": len(results[0]["per_seed"]),
            "results": results,
        }
        panels.append({"label": label, "study": study})
    return panels


def _metric_differences(
    first: dict[str, Any], second: dict[str, Any], keys: tuple[str, str]
) -> dict[str, dict[str, Any]]:
    """Each metric both conditions report: both arms (under ``keys``) and first - second with
    a bootstrap CI resampling each arm's seeds. With one seed in an arm there is nothing to
    resample, so the interval is None rather than a zero-width bracket that would read as
    certainty."""
    metrics = {}
    for name, stat in first["metrics"].items():
        if name not in second["metrics"]:
            continue
        other = second["metrics"][name]
        diff, lo, hi = diff_ci(stat["per_seed"], other["per_seed"])
        resampled = min(len(stat["per_seed"]), len(other["per_seed"])) >= 2
        metrics[name] = {
            keys[0]: {k: stat[k] for k in ("mean", "ci95", "per_seed")},
            keys[1]: {k: other[k] for k in ("mean", "ci95", "per_seed")},
            "difference": diff,
            "ci95": [lo, hi] if resampled else None,
        }
    return metrics


def _pairs(out_conditions, split, first: Any, second: Any) -> list[tuple[int, int]]:
    """Indices (i, j) of conditions that agree on everything but one setting, whose value is
    ``first`` in i and ``second`` in j; ``split(config) -> (value, rest of config)``."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    wanted = {json.dumps(first): 0, json.dumps(second): 1}
    for i, c in enumerate(out_conditions):
        value, rest = split(c["config"])
        if json.dumps(value) in wanted:
            found[json.dumps(rest, sort_keys=True)][json.dumps(value)] = i
    a, b = json.dumps(first), json.dumps(second)
    return [(pair[a], pair[b]) for pair in found.values() if a in pair and b in pair]


def _without_horizon(config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    return config.get("horizon"), {k: v for k, v in config.items() if k != "horizon"}


def _comparisons(out_conditions, conds) -> list[dict[str, Any]]:
    """Ordinary RL (horizon none) against MONA (horizon 1) for every pair of conditions that
    differ only in the horizon: each metric of both, and ordinary RL - MONA
    (:func:`_metric_differences`)."""
    out = []
    for i, j in _pairs(out_conditions, _without_horizon, None, 1):
        ordinary, mona = out_conditions[i], out_conditions[j]
        infos = [r.get("info") or {} for r in conds[j]["runs"]]
        bounds = infos[0].get("bounds") if infos else None
        out.append(
            {
                "ordinary_rl": ordinary["label"],
                "mona": mona["label"],
                "seeds": [len(ordinary["seeds"]), len(mona["seeds"])],
                "metrics": _metric_differences(ordinary, mona, ("ordinary_rl", "mona")),
                "bounds": bounds if isinstance(bounds, dict) else None,
                "mona_like_ordinary": _like_ordinary(infos),
            }
        )
    return out


def _like_ordinary(infos: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How many of the MONA arm's updates had exactly ordinary RL's advantages (the
    language-model trainer's ``updates_like_ordinary``, per seed); None when its runs do not
    say (other trainers, runs made before it was recorded)."""
    if not infos or not all("updates_like_ordinary" in i and "updates" in i for i in infos):
        return None
    per_seed = [int(i["updates_like_ordinary"]) for i in infos]
    updates = [int(i["updates"]) for i in infos]
    return {"updates": sum(per_seed), "of": sum(updates), "per_seed": per_seed}


def _without_inoculation(config: dict[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    """A run config's trainer ``inoculation`` setting (None when its trainer has none) and
    the config without it."""
    for section, table in config.items():
        if isinstance(table, dict) and "inoculation" in table:
            rest = {k: v for k, v in table.items() if k != "inoculation"}
            return bool(table["inoculation"]), {**config, section: rest}
    return None, config


def _inoculation_comparisons(out_conditions) -> list[dict[str, Any]]:
    """For every pair of conditions that differ only in the train-time inoculation prompt:
    each metric of both (evaluation never shows the prompt, so these are test-time numbers)
    and inoculated - not inoculated (:func:`_metric_differences`)."""
    out = []
    for i, j in _pairs(out_conditions, _without_inoculation, False, True):
        plain, inoculated = out_conditions[i], out_conditions[j]
        out.append(
            {
                "without": plain["label"],
                "with": inoculated["label"],
                "seeds": [len(plain["seeds"]), len(inoculated["seeds"])],
                "metrics": _metric_differences(inoculated, plain, ("with", "without")),
            }
        )
    return out


def _curves(
    store: Store, conditions: list[dict[str, Any]], names: str | None = None
) -> list[dict[str, Any]]:
    """Mean and 95 % bootstrap band over seeds at each evaluation point, per condition: of the
    outcome fractions and returns, or (``names="all"``) of every numeric metric logged that
    the runs also report at the end (training diagnostics such as ``kl`` are logged, not
    plotted). Lines logged at the same step are merged (a language-model run logs its training
    line and its evaluation line at one update), and with ``names="all"`` each metric keeps
    the steps at which every seed logged it (its own ``env_steps``): evaluation metrics are
    logged every ``eval_every`` updates, training ones every update."""
    out = []
    for cond in conditions:
        per_seed = []
        for rid in cond["runs"]:
            merged: dict[Any, dict[str, Any]] = {}
            for ln in store.read_metrics(rid):
                if "env_steps" in ln:
                    merged[ln["env_steps"]] = {**merged.get(ln["env_steps"], {}), **ln}
            if merged:
                per_seed.append(merged)
        if not per_seed or len(per_seed) != len(cond["runs"]):
            continue
        steps = sorted(set.intersection(*(set(p) for p in per_seed)))
        if not steps:
            continue
        curve: dict[str, Any] = {"label": cond["label"], "env_steps": steps}
        wanted: list[str] = list((*OUTCOMES, *RETURNS))
        if names == "all":
            wanted = []
            for p in per_seed:
                for line in p.values():
                    wanted += [
                        k
                        for k, v in line.items()
                        if k != "env_steps"
                        and k not in wanted
                        and k in cond["metrics"]  # the runs' own metrics, not diagnostics
                        and isinstance(v, int | float)
                        and not isinstance(v, bool)
                    ]
        for m in wanted:
            at = steps
            if names == "all":
                at = [s for s in steps if all(m in p[s] for p in per_seed)]
            if not at or not all(m in p[s] for p in per_seed for s in at):
                continue
            values = np.asarray([[p[s][m] for s in at] for p in per_seed], np.float64)
            if names == "all" and not np.isfinite(values).all():
                continue
            bands = [bootstrap_ci(values[:, j], resamples=1000) for j in range(len(at))]
            curve[m] = {
                "mean": values.mean(axis=0).tolist(),
                "ci95_low": [b[0] for b in bands],
                "ci95_high": [b[1] for b in bands],
            }
            if at != steps:
                curve[m]["env_steps"] = at
        out.append(curve)
    return out


def _run_provenance(runs: list[dict[str, Any]]) -> dict[str, Any]:
    commands, commits, machines, versions = {}, {}, {}, {}
    for run in runs:
        prov = run.get("provenance") or {}
        commands[prov.get("command")] = None
        commits[prov.get("git")] = None
        from monarl.runtime.provenance import describe_machine

        if prov.get("machine"):
            machines[describe_machine(prov["machine"])] = None
        versions[json.dumps(prov.get("versions"), sort_keys=True)] = None
    return {
        "commands": [c for c in commands if c],
        "git": [g or "not a git checkout" for g in commits],
        "machines": list(machines),
        "versions": [json.loads(v) for v in versions if v],
    }


# Rendering ----------------------------------------------------------------------------------


def _cell(stat: dict[str, Any] | None, percent: bool) -> str:
    if stat is None:
        return "n/a"
    scale = 100.0 if percent else 1.0
    mean, (lo, hi) = stat["mean"] * scale, stat["ci95"]
    single = len(stat.get("per_seed", (0, 0))) == 1
    if percent:
        if single or lo == hi:
            return f"{mean:.1f} %"
        return f"{mean:.1f} [{lo * scale:.1f}, {hi * scale:.1f}] %"
    if single or lo == hi:
        return f"{mean:.3f}"
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def _applies(key: str, flat: dict[str, Any]) -> bool:
    """Whether a varying field means anything for this condition: an approval strength that
    does not apply to the condition's approval kind (``overseer_steps`` of ordinary RL) is
    left out of its label."""
    field = key.split(".", 1)[1] if key.startswith("approval.") else None
    if field is None or field == "kind":
        return True
    try:
        spec = APPROVALS.get(flat.get("approval.kind", "none"))
    except ConfigError:
        return True  # a plugin this process cannot import: show what the run config says
    return field in field_names(spec.settings)


QUALITY_COLUMNS = (
    ("approval_rank_correlation", "approval rank correlation", False),
    ("approval_mae_reachable", "approval MAE, reachable steps", False),
    ("approval_mae_visited", "approval MAE, visited steps", False),
    ("overseer_intended", "overseer intended", True),
    ("overseer_hack", "overseer hack", True),
    ("overseer_true_return", "overseer true return", False),
)
"""Per-run metrics that judge the approval rather than the policy: a learned approval's (or
an overseer approval's) agreement with its exact counterpart, and what the overseer's own
policy does."""


def _quality_blocks(conditions: list[dict[str, Any]]) -> list[tuple]:
    """A table of the approval's quality, for the conditions whose runs measured it."""
    columns = [c for c in QUALITY_COLUMNS if any(c[0] in cond["metrics"] for cond in conditions)]
    rows, seen = [], {}
    for cond in conditions:
        if not any(name in cond["metrics"] for name, _, _ in columns):
            continue
        cells = [_cell(cond["metrics"].get(name), fraction) for name, _, fraction in columns]
        # An approval is built once per seed whatever the horizon, so conditions that differ
        # only in M repeat the same numbers: one row stands for them all.
        label = cond["label"]
        others = {k: v for k, v in cond["varying"].items() if k != "horizon"}
        key = (json.dumps(others, sort_keys=True, default=str), tuple(cells))
        if key in seen:
            seen[key][0] = re.sub(r"horizon=[^,]*", "every horizon", seen[key][0])
            continue
        row = [label, str(len(cond["seeds"])), *cells]
        seen[key] = row
        rows.append(row)
    if not rows:
        return []
    return [
        ("h2", "Approval quality"),
        ("p", "How good the approval itself is, where a run measured it: Spearman rank "
              "correlation and mean absolute error against the exact approval it stands for "
              "(the trusted one; the exact continuation for continuation-rollout) over every "
              "reachable step and over the steps the trained policy visits (learned approvals, "
              "and the overseer approvals on boards with tables), and what the overseer's own "
              "policy (PPO on the true reward) does."),
        ("table", ["condition", "seeds", *(title for _, title, _ in columns)], rows),
    ]


def _metric_cells(metrics: dict[str, Any]) -> list[str]:
    return [_cell(metrics.get(m), True) for m in OUTCOMES] + [
        _cell(metrics.get(m), False) for m in RETURNS
    ]


HEADER = ["fail", "intended", "hack", "observed return", "true return"]


def _blocks(
    data: dict[str, Any], plots: dict[str, Any], report_prov: dict[str, Any]
) -> list[tuple]:
    from monarl.runtime.provenance import describe_machine

    blocks: list[tuple] = [("h1", f"Experiment report: {data['title']}")]
    n_cond = len(data["conditions"])
    intro = f"{data['runs']} finished runs in {n_cond} condition(s), store `{data['store']}`."
    if data.get("missing_runs"):
        intro += (
            f" {data['missing_runs']} run(s) of the experiment are not finished yet and "
            "are left out."
        )
    if data.get("stale_runs"):
        intro += (
            f" {data['stale_runs']} run(s) in the store were computed before a change in what "
            "their algorithm computes (its semantics version) and are left out."
        )
    blocks.append(("p", intro))
    metric_style = data.get("style") == "metrics"
    explain = (
        "Each cell is the mean over seeds with its 95 % percentile-bootstrap "
        "confidence interval over seeds in brackets (no interval when the seeds "
        "agree or there is one seed)."
    )
    if not metric_style:
        explain += (
            " Fractions fail / intended / hack are over the "
            "environment's start states; returns are expected episode returns of the "
            "observed (hackable) and true reward."
        )
    if data.get("sampled_runs"):
        episodes = " or ".join(f"{n:,}" for n in data["sampled_runs"])
        explain += (
            f" Boards too large for the state tables are evaluated by sampling {episodes} "
            "episodes from uniformly drawn start states at each evaluation point, not exactly "
            "(standard error of a fraction at most 0.5 / sqrt(episodes))."
        )
    blocks.append(("p", explain))
    for note in data.get("metric_notes", []) if metric_style else []:
        blocks.append(("p", note))
    if data["varying"]:
        blocks.append(("p", "Varied: " + ", ".join(f"`{k}`" for k in data["varying"]) + "."))
    fixed = {k: v for k, v in data["fixed"].items() if k != "seed"}
    if fixed:
        blocks.append(
            ("p", "Fixed: " + ", ".join(f"`{k}={_fmt_value(v)}`" for k, v in fixed.items()) + ".")
        )
    if data["horizon_studies"]:
        blocks.append(("h2", "Outcomes against the optimization horizon M"))
        for i, panel in enumerate(data["horizon_studies"]):
            study = panel["study"]
            blocks.append(("h3", panel["label"]))
            if i in plots.get("horizon", {}):
                blocks.append(("img", plots["horizon"][i], f"outcomes against M, {panel['label']}"))
            rows = []
            for row in study["results"]:
                metrics = {
                    m: _stat([s[m] for s in row["per_seed"]])
                    for m in (*OUTCOMES, *RETURNS)
                    if m in row
                }
                h = row["horizon"]
                rows.append(
                    [
                        "none (full)" if h is None else str(h),
                        str(len(row["per_seed"])),
                        *_metric_cells(metrics),
                    ]
                )
            blocks.append(("table", ["M", "seeds", *HEADER], rows))
    elif metric_style:
        blocks.append(("h2", "Final results per condition"))
        names = data["metric_names"]
        for j in range(0, len(names), METRICS_PER_TABLE):
            chunk = names[j : j + METRICS_PER_TABLE]
            rows = [
                [
                    c["label"],
                    str(len(c["seeds"])),
                    *(_cell(c["metrics"].get(m), False) for m in chunk),
                ]
                for c in data["conditions"]
            ]
            header = ["condition", "seeds", *(m.replace("_", " ") for m in chunk)]
            blocks.append(("table", header, rows))
    else:
        blocks.append(("h2", "Final results per condition"))
        rows = [
            [c["label"], str(len(c["seeds"])), *_metric_cells(c["metrics"])]
            for c in data["conditions"]
        ]
        blocks.append(("table", ["condition", "seeds", *HEADER], rows))
    blocks += _quality_blocks(data["conditions"])
    if data.get("comparisons"):
        blocks += _comparison_blocks(data["comparisons"])
    if data.get("inoculation_comparisons"):
        blocks += _inoculation_blocks(data["inoculation_comparisons"])
    if data["curves"]:
        blocks.append(("h2", "Training curves"))
        what = (
            "Every metric logged at each evaluation point"
            if metric_style
            else ("Outcome fractions of the policy at each evaluation point (sampled "
                  "episodes on boards beyond the tables, exact elsewhere)"
                  if data.get("sampled_runs")
                  else "Exact outcome fractions of the policy at each evaluation point")
        )
        blocks.append(
            (
                "p",
                f"{what}: mean over seeds (line) and 95 % bootstrap band over seeds (shaded).",
            )
        )
        for path in plots.get("curves", []):
            blocks.append(("img", path, "training curves"))
    blocks.append(("h2", "Provenance"))
    runs_prov = data["run_provenance"]
    items = [
        f"Report command: `{report_prov['command']}`",
        f"Report machine: {describe_machine(report_prov['machine'])}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report_prov["versions"].items()),
        f"Git commit: {report_prov['git'] or 'not a git checkout'}",
    ]
    if runs_prov["commands"]:
        items.append("Runs made by: " + "; ".join(f"`{c}`" for c in runs_prov["commands"]))
    if runs_prov["machines"]:
        items.append("Runs' machines: " + "; ".join(runs_prov["machines"]))
    if runs_prov["git"]:
        items.append("Runs' git commits: " + ", ".join(runs_prov["git"]))
    blocks.append(("ul", items))
    return blocks


def _diff_cell(item: dict[str, Any]) -> str:
    if item["ci95"] is None:
        return f"{item['difference']:+.3f}"
    lo, hi = item["ci95"]
    return f"{item['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _difference_rows(metrics: dict[str, Any], keys: tuple[str, str]) -> list[list[str]]:
    """Table rows of :func:`_metric_differences`: metric, the two arms, the difference."""
    return [
        [name.replace("_", " "), _cell(item[keys[0]], False), _cell(item[keys[1]], False),
         _diff_cell(item)]
        for name, item in metrics.items()
    ]


def _comparison_blocks(comparisons: list[dict[str, Any]]) -> list[tuple]:
    """Ordinary RL vs MONA: the headline line (observed-accuracy gap beside the unbiased
    accuracies) when those metrics exist, and a table of every metric's difference."""
    blocks: list[tuple] = [("h2", "Ordinary RL vs MONA")]
    blocks.append(
        (
            "p",
            "Pairs of conditions that differ only in the optimization horizon (none = ordinary "
            "RL, 1 = MONA). Differences are ordinary RL - MONA with a 95 % percentile-bootstrap "
            "confidence interval resampling each arm's seeds (no interval where an arm has one "
            "seed: nothing to resample).",
        )
    )
    for comp in comparisons:
        metrics = comp["metrics"]
        if len(comparisons) > 1:
            blocks.append(("h3", f"{comp['ordinary_rl']} vs {comp['mona']}"))
        if "observed_accuracy" in metrics and "unbiased_accuracy" in metrics:
            gap, unb = metrics["observed_accuracy"], metrics["unbiased_accuracy"]
            line = (
                f"Observed-accuracy gap (ordinary RL - MONA): {_diff_cell(gap)} (what MONA "
                "gives up on the biased labels), beside the unbiased accuracy (what it keeps): "
                f"ordinary RL {_cell(unb['ordinary_rl'], False)}, "
                f"MONA {_cell(unb['mona'], False)}, "
                f"difference {_diff_cell(unb)}."
            )
            bounds = comp.get("bounds") or {}
            if "observed_from_x" in bounds and "unbiased_of_x_rule" in bounds:
                line += (
                    " Best achievable from the legitimate features alone: observed accuracy "
                    f"{bounds['observed_from_x']:.3f}, whose decision rule has unbiased "
                    f"accuracy {bounds['unbiased_of_x_rule']:.3f}."
                )
            blocks.append(("p", line))
        alike = comp.get("mona_like_ordinary")
        if alike and alike["updates"]:
            blocks.append(("p", like_ordinary_sentence(alike["per_seed"], alike["of"])))
        rows = _difference_rows(metrics, ("ordinary_rl", "mona"))
        header = ["metric", f"ordinary RL ({comp['ordinary_rl']})", f"MONA ({comp['mona']})"]
        blocks.append(("table", [*header, "ordinary RL - MONA"], rows))
    return blocks


def _inoculation_blocks(comparisons: list[dict[str, Any]]) -> list[tuple]:
    """With and without the inoculation prompt: a table of every metric and the difference."""
    blocks: list[tuple] = [("h2", "Inoculation prompting")]
    blocks.append(
        (
            "p",
            "Pairs of conditions that differ only in the train-time inoculation prompt, which "
            "evaluation never shows, so every number is the test-time behaviour. Differences "
            "are inoculated - not inoculated with a 95 % percentile-bootstrap confidence "
            "interval resampling each arm's seeds (no interval where an arm has one seed).",
        )
    )
    for comp in comparisons:
        if len(comparisons) > 1:
            blocks.append(("h3", f"{comp['without']} vs {comp['with']}"))
        rows = _difference_rows(comp["metrics"], ("without", "with"))
        header = ["metric", f"without ({comp['without']})", f"inoculated ({comp['with']})"]
        blocks.append(("table", [*header, "inoculated - without"], rows))
    return blocks


def blocks_markdown(blocks: list[tuple], out_dir: Path) -> str:
    """Report blocks ((kind, ...) tuples: h1-h3, p, img, table, ul) as Markdown."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "img":
            lines += [f"![{block[2]}]({Path(block[1]).relative_to(out_dir)})", ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;
padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
img{max-width:100%}code{background:#f3f3f3;padding:0 3px}"""


def blocks_html(blocks: list[tuple], title: str) -> str:
    """The same blocks as one self-contained HTML page (images embedded)."""
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "img":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode()
            body.append(
                f'<p><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}"></p>'
            )
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in block[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def curve_plot(curves: list[dict[str, Any]], path: Path, title: str) -> Path:
    """fail / intended / hack against environment steps, one colour per condition."""
    from monarl.reports.plots import plt

    # The legend goes below the panels: condition labels are long, and inside a panel they
    # hid the curves they name.
    columns = 2 if len(curves) > 3 else 1
    legend_rows = -(-len(curves) // columns) + 1  # + the title row
    height = 4.2 + 0.22 * legend_rows
    fig, axes = plt.subplots(1, 3, figsize=(15, height), sharey=True)
    colors = plt.get_cmap("tab10")
    for i, curve in enumerate(curves):
        xs = np.asarray(curve["env_steps"], np.float64)
        for ax, m in zip(axes, OUTCOMES, strict=True):
            if m not in curve:
                continue
            _band(ax, xs, curve[m], colors(i % 10), curve["label"])
    for ax, m in zip(axes, OUTCOMES, strict=True):
        ax.set_title(f"{m}")
        ax.set_xlabel("environment steps per seed")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of start states")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8,
               title="condition", frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.22 * legend_rows / height + 0.02, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _band(ax, xs: np.ndarray, stats: dict[str, Any], color, label: str) -> None:
    """Mean line and shaded 95 % band of one condition's curve."""
    ax.plot(xs, stats["mean"], color=color, label=label, marker="o" if len(xs) <= 12 else None)
    ax.fill_between(xs, stats["ci95_low"], stats["ci95_high"], color=color, alpha=0.2,
                    linewidth=0)


def metric_curve_plot(
    curves: list[dict[str, Any]], names: list[str], path: Path, title: str
) -> Path:
    """One panel per logged metric against environment steps, one colour per condition."""
    from monarl.reports.plots import plt

    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    colors = plt.get_cmap("tab10")
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        for i, curve in enumerate(curves):
            if name not in curve:
                continue
            xs = np.asarray(curve[name].get("env_steps", curve["env_steps"]), np.float64)
            _band(ax, xs, curve[name], colors(i % 10), curve["label"])
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("steps per seed (optimizer updates for language models)")
        ax.grid(alpha=0.3)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    axes[0][0].legend(loc="best", fontsize=8, title="condition")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(
    data: dict[str, Any], out_dir: str | Path, json_path: str | Path | None = None
) -> dict[str, Path]:
    """Write report.md, report.html (images embedded), the PNGs and report.json."""
    from monarl.reports.plots import horizon_plot
    from monarl.runtime.provenance import provenance

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Any] = {"horizon": {}, "curves": []}
    for i, panel in enumerate(data["horizon_studies"]):
        if len(panel["study"]["results"]) < 2:
            continue
        title = f"{data['title']}: {panel['label']} (exact outcomes against M)"
        plots["horizon"][i] = horizon_plot(
            panel["study"], out_dir / f"horizon-{i + 1}.png", title=title
        )
    curves = data["curves"]
    for j in range(0, len(curves), MAX_CURVES_PER_PLOT):
        chunk = curves[j : j + MAX_CURVES_PER_PLOT]
        n = j // MAX_CURVES_PER_PLOT + 1
        path, title = out_dir / f"curves-{n}.png", f"{data['title']}: training curves"
        if data.get("style") == "metrics":
            names: list[str] = []
            for curve in chunk:
                names += [k for k in curve if k not in ("label", "env_steps") and k not in names]
            if names:
                plots["curves"].append(metric_curve_plot(chunk, names, path, title))
        else:
            plots["curves"].append(curve_plot(chunk, path, title))
    report_prov = provenance()
    full = {**data, "report_provenance": report_prov}
    blocks = _blocks(data, plots, report_prov)
    if data.get("spectrum"):
        where = blocks.index(("h2", "Provenance"))
        blocks[where:where] = spectrum.report_blocks(data["spectrum"], out_dir)
    md = out_dir / "report.md"
    md.write_text(blocks_markdown(blocks, out_dir))
    page = out_dir / "report.html"
    page.write_text(blocks_html(blocks, f"Experiment report: {data['title']}"))
    results = out_dir / "report.json"
    text = json.dumps(full, indent=1)
    results.write_text(text)
    paths = {"report": md, "html": page, "json": results}
    if json_path is not None:
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text)
        paths["json_copy"] = json_path
    return paths


def report(
    target: str | Path, out: str | Path | None = None, json_path: str | Path | None = None
) -> dict[str, Any]:
    """Resolve ``target`` (store or experiment file), build and write the report."""
    info = resolve_target(target)
    data = build_report(info["store"], info["ids"], info["labels"], info["title"])
    out_dir = Path(out) if out is not None else info["store"].root / "report"
    paths = write_report(data, out_dir, json_path)
    return {"data": data, "paths": paths}
