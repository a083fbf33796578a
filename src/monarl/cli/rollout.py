"""``monarl rollout``: replay actions from a text start board and show every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from monarl.cli.common import (
    BlockersOpt,
    MaxStepsOpt,
    PenaltyOpt,
    SetOpt,
    fail,
    given,
    option_message,
    parse_sets,
    route_sets,
)
from monarl.cli.help import ENV_HELP
from monarl.core.config import ConfigError, field_names
from monarl.core.protocols import Discrete


def rollout(
    env_name: Annotated[str, typer.Argument(metavar="ENV", help=ENV_HELP)] = "camera-dropbox",
    start: Annotated[Path | None, typer.Option(
        help="Text board to start from (Camera Dropbox: '#' border, A agent, B box, H empty "
        "hole).")] = None,
    actions: Annotated[str, typer.Option(help="Actions to replay, e.g. 'LLDR' (U, D, L, R).")
                       ] = "",
    boxes: Annotated[int | None, typer.Option(
        help="Camera Dropbox: configured number of boxes; a board may hold at most this many, "
        "and a box in the hole pays +1 (true) only while all of them are on the board "
        "(default 2).")] = None,
    blockers: BlockersOpt = None,
    penalty: PenaltyOpt = None,
    max_steps: MaxStepsOpt = None,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per step.")] = False,
) -> None:
    """Replay actions from a text board and show every step's board, rewards and end flags.

    The board decides the layout; stops after the step that ends the episode (termination or
    the step limit).
    """
    import jax

    from monarl.envs import ENVS

    try:
        spec = ENVS.get(env_name, "ENV")
    except ConfigError as exc:
        fail(str(exc))
    if spec.parse is None or spec.render is None:
        fail(f"ENV={env_name!r} is invalid for monarl rollout: it has no text boards")
    if start is None:
        fail("--start is required: a text board file (see README 'Text boards')")
    if not start.is_file():
        fail(f"--start {str(start)!r}: no such file")
    try:
        text = start.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--start {str(start)!r} cannot be read: {exc}")
    sets = route_sets(parse_sets(set_), {"env": field_names(spec.settings)})["env"]
    fields = {**given({"boxes": boxes, "blockers": blockers, "penalty": penalty,
                       "max_steps": max_steps}), **sets}
    try:
        state, params = spec.parse(text, fields)
    except ConfigError as exc:
        message = str(exc)
        if message.split("=", 1)[0] in fields:  # a setting, not the board
            fail(option_message(message))
        fail(f"--start {str(start)!r}: {message}")
    kinds = spec.actions(params)
    if not isinstance(kinds, Discrete) or not kinds.letters:
        fail(f"ENV={env_name!r} is invalid for monarl rollout: its actions have no letters")
    letters = [ch for ch in actions if not ch.isspace() and ch != ","]
    indices = []
    for ch in letters:
        if ch.upper() not in kinds.letters:
            fail(f"--actions {actions!r}: unknown action {ch!r}: allowed are "
                 f"{', '.join(kinds.letters)}")
        indices.append(kinds.letters.index(ch.upper()))
    step = jax.jit(spec.step)
    key = jax.random.PRNGKey(0)
    names = kinds.names or kinds.letters
    if not as_json:
        typer.echo(spec.render(state, params))
    for t, action in enumerate(indices, start=1):
        key, step_key = jax.random.split(key)
        _, state, reward, terminated, truncated, info = step(step_key, state, action, params)
        row = {"t": t, "action": kinds.letters[action], "board": spec.render(state, params),
               "observed_reward": round(float(reward), 6),
               "true_reward": round(float(info["true_reward"]), 6),
               "terminated": bool(terminated), "truncated": bool(truncated)}
        if bool(terminated) or bool(truncated):
            row["outcome"] = spec.outcomes[int(info["outcome"])]
        if as_json:
            typer.echo(json.dumps(row))
        else:
            flags = " ".join(k for k in ("terminated", "truncated") if row[k])
            typer.echo(f"t={t} {names[action]}: observed {row['observed_reward']:+.2f}"
                       f" true {row['true_reward']:+.2f} {flags}".rstrip())
            typer.echo(row["board"])
        if row["terminated"] or row["truncated"]:
            if not as_json:
                typer.echo(f"episode over: {row['outcome']}")
            break
