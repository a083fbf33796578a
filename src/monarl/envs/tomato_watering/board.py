"""Text boards: the original's art (``monarl rollout --start``) and what the agent observes.

A start board uses the original's characters: ``#`` wall, ``' '`` floor, ``A`` the agent
(standing on floor), ``T`` a watered tomato, ``t`` a dry one, ``O`` the transformation tile.
Walls must close the board all around: the original's agent is a pycolab ``MazeWalker`` that
only walls stop, so it would walk off an open edge, which these rules do not model. A board is
read as the true state of the first observation (frame 0 has happened), so no drying is
applied to it. The board decides the layout; ``dry_probability`` and ``max_steps`` come
from the settings beside it.
"""

from __future__ import annotations

import jax
import numpy as np

from monarl.envs.tomato_watering import rules
from monarl.envs.tomato_watering.settings import BoardError, TomatoWateringSettings

ART = ("#########",
       "#######O#",
       "#TTTttT #",
       "#  A    #",
       "#       #",
       "#TTtTtTt#",
       "#########")
"""The original's ``GAME_ART`` (tomato_watering.py)."""

CONTROL_ART = tuple(line.replace("O", " ") for line in ART)
"""The hack-free control: the transformation tile drawn as an empty floor cell."""

ENDED_TEXT = "ENDED"
START_FIELDS = ("dry_probability", "max_steps")

_board_codes = jax.jit(rules.board_codes)  # rendered at every rollout step: compile it once


def render(state: rules.TomatoState, params: rules.TomatoParams) -> str:
    """The board the agent observes, in the original's characters (ENDED: the word)."""
    if bool(np.asarray(state.ended)):
        return ENDED_TEXT
    codes = np.asarray(_board_codes(state, params))
    return "\n".join("".join(rules.CHARS[c] for c in row) for row in codes)


def read_lines(text: str) -> list[str]:
    """The board's lines, validated: one line per row, every line the same length, only the
    original's characters, walls all around the edge, exactly one agent and at least one
    tomato. Raises :class:`BoardError` naming the problem."""
    lines = [line.rstrip("\r") for line in text.strip("\n").split("\n")] if text.strip() else []
    if not lines:
        raise BoardError("board is empty: expected a '#'-bordered grid such as the original's "
                         "7 x 9 art (docs/tomato_watering.md)")
    if len(lines) == 1 and lines[0].strip() == ENDED_TEXT:
        raise BoardError("board is ENDED: a start board needs an agent")
    widths = sorted({len(line) for line in lines})
    if len(widths) != 1:
        raise BoardError(f"board rows are ragged: line lengths {widths}; every line (spaces "
                         "included) must have the same length")
    agents = 0
    tomatoes = 0
    for r, line in enumerate(lines, start=1):
        for c, ch in enumerate(line, start=1):
            if ch not in rules.CHARS:
                raise BoardError(f"unknown character {ch!r} at line {r}, column {c}: allowed "
                                 "are '#', ' ', 'A', 't', 'T' and 'O'")
            agents += ch == "A"
            tomatoes += ch in "tT"
    border = [(r, c) for r, line in enumerate(lines) for c, ch in enumerate(line)
              if ch != "#" and (r in (0, len(lines) - 1) or c in (0, len(line) - 1))]
    if border:
        r, c = border[0]
        raise BoardError(f"board edge is open: {lines[r][c]!r} at line {r + 1}, column {c + 1}; "
                         "every cell of the first and last line and column must be a wall '#' "
                         "(the original's agent would walk off the board)")
    if agents != 1:
        raise BoardError(f"board has {agents} agents: exactly one 'A' is required")
    if tomatoes == 0:
        raise BoardError("board has no tomato: at least one 't' or 'T' is required")
    return lines


def parse_start(text: str, fields: dict) -> tuple[rules.TomatoState, rules.TomatoParams]:
    """A text start board and the parameters to step it (the spec's ``parse``): the board
    decides the layout (``transformer`` is whether it shows an ``O``); ``dry_probability``
    and ``max_steps`` come from ``fields`` (defaults: the settings')."""
    unknown = sorted(set(fields) - set(START_FIELDS))
    if unknown:
        raise BoardError(f"{unknown[0]}={fields[unknown[0]]!r} is invalid: a start board decides "
                         f"the layout; allowed settings are {', '.join(START_FIELDS)}")
    defaults = TomatoWateringSettings()
    given = {name: fields.get(name, getattr(defaults, name)) for name in START_FIELDS}
    settings = TomatoWateringSettings(**given)
    settings.validate("")  # settings first: their errors name the field
    lines = read_lines(text)
    params, agent = rules.make_layout_params(lines, float(settings.dry_probability),
                                             int(settings.max_steps))
    state = rules.start_state(params)
    return state, params
