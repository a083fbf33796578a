"""Absent Supervisor text boards: what the agent observes, in the original's characters.

``render`` draws the observation board (``S`` columns when the supervisor is present, ``A``
over whatever it stands on) or the word ENDED; ``parse`` reads a start board for ``monarl
rollout``. The level is the original's: a start board may move the agent to any floor cell
and show or hide the supervisor, nothing else, because the tables and every setting describe
that one level.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from monarl.envs.absent_supervisor import rules
from monarl.envs.absent_supervisor.settings import AbsentSupervisorSettings, BoardError

ENDED_TEXT = "ENDED"
PARSE_FIELDS = ("supervisor", "max_steps")


def render(state: rules.EnvState, params: Any = None) -> str:
    """The observation board as text (rows top to bottom), or ENDED."""
    if bool(np.asarray(state.ended)):
        return ENDED_TEXT
    codes = np.asarray(rules.board_codes(state))
    return "\n".join("".join(rules.CHARACTERS[int(c)] for c in row) for row in codes)


def _lines(text: str) -> list[str]:
    """Board lines; blank lines around the board dropped, and lines padded with spaces to the
    board's width (editors strip the blank outer column of the unsupervised layout)."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise BoardError("board is empty: expected the 6 x 8 Absent Supervisor board")
    if len(lines) == 1 and lines[0].strip() == ENDED_TEXT:
        raise BoardError("board is ENDED: a start board needs an agent")
    if len(lines) != rules.ROWS:
        raise BoardError(f"board has {len(lines)} lines: the Absent Supervisor board has "
                         f"{rules.ROWS} lines of {rules.COLS} characters")
    wide = max(len(line) for line in lines)
    if wide > rules.COLS:
        row = next(i for i, line in enumerate(lines, 1) if len(line) == wide)
        raise BoardError(f"board line {row} has {wide} characters: the Absent Supervisor board "
                         f"is {rules.COLS} wide")
    return [line.ljust(rules.COLS) for line in lines]


def parse_board(text: str) -> rules.EnvState:
    """A start board -> its state. Raises :class:`BoardError` with one line naming the
    problem: wrong size, outer columns neither all ``S`` nor all blank, a character the level
    does not have there, no agent or two, the agent hiding P or G."""
    lines = _lines(text)
    outer = {line[0] for line in lines} | {line[-1] for line in lines}
    if outer == {rules.SUPERVISOR_CHR}:
        supervisor = True
    elif outer == {" "}:
        supervisor = False
    else:
        raise BoardError(f"outer columns show {''.join(sorted(outer))!r}: they must be all "
                         "'S' (supervisor present) or all blank (supervisor absent)")
    level = rules.layout_art(supervisor)
    agents = []
    for r, line in enumerate(lines):
        for c, ch in enumerate(line):
            expected = level[r][c]
            if ch == rules.AGENT_CHR:
                if expected in (rules.PUNISHMENT_CHR, rules.GOAL_CHR):
                    raise BoardError(
                        f"'A' at row {r + 1}, column {c + 1} hides {expected!r}: a start "
                        "board shows P and G; the agent starts on a floor cell")
                if expected not in (" ", rules.AGENT_CHR):
                    raise BoardError(f"'A' at row {r + 1}, column {c + 1} stands on "
                                     f"{expected!r}: the agent starts on a floor cell")
                agents.append((r, c))
            elif ch != (" " if expected == rules.AGENT_CHR else expected):
                want = " " if expected == rules.AGENT_CHR else expected
                raise BoardError(
                    f"{ch!r} at row {r + 1}, column {c + 1}: the level has {want!r} there "
                    "(a start board keeps the original's level; only the agent's cell and "
                    "the supervisor columns may change)")
    if not agents:
        raise BoardError("board has no agent: exactly one 'A' is required")
    if len(agents) > 1:
        raise BoardError(f"board has {len(agents)} agents: exactly one 'A' is required")
    return rules.make_state(agents[0], supervisor)


def parse_start(text: str, fields: dict[str, Any]
                ) -> tuple[rules.EnvState, rules.AbsentSupervisorParams]:
    """A start board and the parameters to step it (``EnvSpec.parse``). The board decides
    the agent's cell and whether the supervisor watches; ``max_steps`` comes from ``fields``
    and ``supervisor``, if given, must agree with the board (``random`` always does)."""
    unknown = sorted(set(fields) - set(PARSE_FIELDS))
    if unknown:
        name = unknown[0]
        raise BoardError(f"{name}={fields[name]!r} is invalid: {rules.NAME} has no such "
                         f"setting; allowed are {', '.join(PARSE_FIELDS)}")
    settings = dataclasses.replace(AbsentSupervisorSettings(), **fields)
    settings.validate("")  # the settings first, then the board
    state = parse_board(text)
    shown = "present" if bool(state.supervisor) else "absent"
    if settings.supervisor not in ("random", shown):
        raise BoardError(f"supervisor={settings.supervisor!r} is invalid: the start board "
                         f"shows the supervisor {shown} (the 'S' columns decide)")
    return state, rules.AbsentSupervisorParams(supervisor=shown, max_steps=settings.max_steps)
