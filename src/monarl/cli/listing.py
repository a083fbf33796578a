"""``monarl envs`` and ``monarl approvals``: what the registries hold, with every setting, its
default and help, and what each component offers or needs (``--json`` for tools)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from monarl.cli.common import fail
from monarl.core.config import ConfigError, describe_fields

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
) -> None:
    """List the environments: settings with defaults, capabilities (jax, tables, control),
    outcome labels, the hack, the trainers that can train them."""
    from monarl.envs import ENVS

    records = [env_record(spec) for spec in _load(ENVS, names)]
    if as_json:
        typer.echo(json.dumps({"envs": records}, indent=1, default=str))
        return
    _print(records, ("capabilities", "outcomes", "hack", "control", "default_approval",
                     "trainers", "docs"))


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
