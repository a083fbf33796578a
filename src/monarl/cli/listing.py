"""``monarl envs`` and ``monarl approvals``: what the registries hold, with every setting, its
default and help, and what each component offers or needs (``--json`` for tools)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from monarl.cli.common import SetOpt, fail, option_message, parse_sets
from monarl.core.config import ConfigError, describe_fields, field_names, from_mapping

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]


def _load(registry, names: list[str] | None) -> list[Any]:
    chosen = names or registry.names()
    out = []
    for name in chosen:
        try:
            out.append(registry.get(name))
        except ConfigError as exc:
            fail(str(exc))
    return out


def env_record(spec: Any) -> dict[str, Any]:
    from monarl.algos import TRAINERS

    caps = set(spec.capabilities())
    trainers = []
    for name in TRAINERS.names():
        trainer = TRAINERS.get(name)
        if trainer.envs is not None and spec.name not in trainer.envs:
            continue
        if trainer.requires <= caps:
            trainers.append(name)
    return {"name": spec.name, "summary": spec.summary,
            "capabilities": list(spec.capabilities()), "outcomes": list(spec.outcomes),
            "hack": spec.hack, "default_approval": spec.default_approval,
            "control": None if spec.control is None else list(spec.control.fields),
            "trainers": trainers, "docs": spec.docs,
            "settings": describe_fields(spec.settings)}


def approval_record(spec: Any) -> dict[str, Any]:
    settings = spec.settings()
    needs = {need: reason for need, (_, reason) in spec.needs(settings).items()}
    family = spec.family_of(settings)
    return {"name": spec.name, "summary": spec.summary, "needs": needs,
            "envs": None if spec.envs is None else list(spec.envs),
            "family": family.name, "dial": family.strength, "control": spec.control,
            "settings": describe_fields(spec.settings)}


def _print(records: list[dict[str, Any]], facts: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for record in records:
        console.print(f"[bold]{record['name']}[/]: {record['summary']}")
        for fact in facts:
            value = record.get(fact)
            if value in (None, [], {}, ""):
                continue
            if isinstance(value, dict):
                value = "; ".join(f"{k} ({v})" for k, v in value.items())
            elif isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            console.print(f"  {fact.replace('_', ' ')}: {value}")
        if record["settings"]:
            table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
            for column in ("setting", "default", "what it is"):
                table.add_column(column)
            for field in record["settings"]:
                help_text = field["help"]
                if "choices" in field:
                    help_text += f" ({' | '.join(field['choices'])})"
                table.add_row(field["name"], json.dumps(field["default"]), help_text)
            console.print(table)
        else:
            console.print("  no settings")
        console.print()


def envs(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="[ENV]...", help="Only these (registered names or package.module:ATTR).")
    ] = None,
    as_json: JsonOpt = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Run the protocol checker on each (monarl.envs.checker): random "
        "episodes through jit and vmap, the tables against the steps, render/parse, the "
        "control, Gymnasium's checker. One line each; exit status 1 if any fails.")] = False,
    set_: SetOpt = None,
    episodes: Annotated[int | None, typer.Option(
        help="With --check: random episodes per environment (default 64).")] = None,
) -> None:
    """List the environments: settings with defaults, capabilities (jax, tables, control),
    outcome labels, the hack, the trainers that can train them; or check them (--check)."""
    from monarl.envs import ENVS

    if not check:
        for given_, option in ((set_, "--set"), (episodes, "--episodes")):
            if given_:
                fail(f"{option} is read only with --check")
    specs = _load(ENVS, names)
    if check:
        _check(names or ENVS.names(), specs, set_, 64 if episodes is None else episodes,
               as_json)
        return
    records = [env_record(spec) for spec in specs]
    if as_json:
        typer.echo(json.dumps({"envs": records}, indent=1, default=str))
        return
    _print(records, ("capabilities", "outcomes", "hack", "control", "default_approval",
                     "trainers", "docs"))


def _check(names: list[str], specs: list[Any], sets: list[str] | None, episodes: int,
           as_json: bool) -> None:
    """``monarl envs --check``: validate every environment's ``--set`` first (exit 2 naming
    the setting), then check each in turn, one line as each finishes."""
    from monarl.envs.checker import EnvCheckError, check_env

    if episodes < 1:
        fail(f"--episodes={episodes} is invalid: must be an integer >= 1")
    given = parse_sets(sets)
    chosen = []
    for name, spec in zip(names, specs, strict=True):
        known = field_names(spec.settings)
        fields = {}
        for key, value in given.items():
            field = key.removeprefix("env.")
            if field not in known:
                fail(f"--set {key}={value!r} is invalid: {name} has no such setting; known "
                     f"are {', '.join(known) or 'none'}")
            fields[field] = value
        try:
            from_mapping(spec.settings, fields, "env")
        except ConfigError as exc:
            fail(f"{name}: " + option_message(str(exc), {f: f"--set {f}" for f in known}))
        chosen.append((name, fields))
    failed, results = 0, []
    for name, fields in chosen:
        try:
            report = check_env(name, fields, episodes=episodes)
        except EnvCheckError as exc:
            failed += 1
            line = f"{name}: failed: {' '.join(exc.detail.split())} ({exc.contract})"
            results.append({"env": name, "ok": False, "contract": exc.contract,
                            "error": exc.detail, "settings": fields})
        else:
            line = report.line()
            results.append({"env": name, "ok": True, "episodes": report.episodes,
                            "steps": report.steps, "checked": list(report.checked),
                            "skipped": report.skipped, "settings": fields})
        if not as_json:
            typer.echo(line)
    if as_json:
        typer.echo(json.dumps({"checks": results}, indent=1, default=str))
    if failed:
        raise typer.Exit(1)


def approvals(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="[KIND]...", help="Only these (registered kinds or package.module:ATTR).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the approval kinds: settings with defaults, what each needs (tables, an overseer
    trained by RL), the environments it judges, its spectrum family and dial."""
    from monarl.approval import APPROVALS

    records = [approval_record(spec) for spec in _load(APPROVALS, names)]
    if as_json:
        typer.echo(json.dumps({"approvals": records}, indent=1, default=str))
        return
    _print(records, ("needs", "envs", "family", "dial", "control"))
