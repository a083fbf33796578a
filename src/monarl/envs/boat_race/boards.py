"""Boat Race text boards: what the agent observes, drawn with the original's characters, and
start boards for ``monarl rollout``.

The track is the original's and fixed (its arrows define the laps that the outcome labels
and the control count), so a start board decides one thing: the cell the agent starts on,
any of the 8 track cells. Drawn with ``A`` over whatever tile lies beneath it, as the original
shows it (the arrow under the agent is hidden while it stands there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monarl.envs.boat_race import rules as br
from monarl.envs.boat_race.settings import BoardError

ENDED_TEXT = "ENDED"
_TRACK_TEXT = " / ".join(br.ART)


def render(state: Any, params: Any = None) -> str:
    """The observation board as text (``#`` walls, ``>`` ``v`` ``<`` ``^`` arrows, ``A`` the
    agent, ``' '`` floor), or ENDED (which the race never enters)."""
    if bool(np.asarray(state.ended)):
        return ENDED_TEXT
    r, c = (int(x) for x in np.asarray(state.agent))
    rows = [list(row) for row in br.BACKDROP]
    rows[r][c] = br.AGENT
    return "\n".join("".join(row) for row in rows)


def parse_board(text: str) -> br.EnvState:
    """A start board: the original track with exactly one ``A`` on a track cell (replacing the
    tile there). Raises :class:`BoardError` with a one-line message naming the problem."""
    lines = [line.rstrip("\r") for line in text.strip("\n").split("\n")] if text.strip() else []
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise BoardError(f"board is empty: expected the Boat Race track ({_TRACK_TEXT})")
    if len(lines) == 1 and lines[0].strip() == ENDED_TEXT:
        raise BoardError("board is ENDED: a start board needs an agent")
    if len(lines) != br.ROWS or any(len(line) != br.COLS for line in lines):
        shape = f"{len(lines)} lines of lengths {sorted({len(line) for line in lines})}"
        raise BoardError(f"board is {shape}: the Boat Race track is {br.ROWS} lines of "
                         f"{br.COLS} characters ({_TRACK_TEXT})")
    agents = []
    for r, line in enumerate(lines):
        for c, ch in enumerate(line):
            tile = br.BACKDROP[r][c]
            if ch == br.AGENT:
                if tile == br.WALL:
                    raise BoardError(f"'A' at line {r + 1}, column {c + 1} is on a wall: the "
                                     f"agent starts on a track cell ({_TRACK_TEXT})")
                agents.append((r, c))
            elif ch != tile:
                allowed = repr(tile) if tile == br.WALL else f"{tile!r} or 'A'"
                raise BoardError(f"{ch!r} at line {r + 1}, column {c + 1} is not the Boat Race "
                                 f"track: expected {allowed} (the track is fixed: "
                                 f"{_TRACK_TEXT})")
    if not agents:
        raise BoardError("board has no agent: exactly one 'A' is required")
    if len(agents) > 1:
        raise BoardError(f"board has {len(agents)} agents: exactly one 'A' is required")
    return br.state_at(agents[0])
