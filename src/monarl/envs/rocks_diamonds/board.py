"""Rocks and Diamonds boards as text: the original's two levels, and reading a start board.

A board is the original's ASCII art: ``#`` wall, `` `` floor, ``G`` goal area, ``A`` agent,
``D`` the diamond, ``1`` ``2`` ``3`` the rocks (``R`` is read as a rock too: it is how the
agent's observation draws every rock), ``P`` / ``p`` the rock switch (upper case: rocks in the
goal area pay +1, lower case: -1) and ``Q`` / ``q`` the diamond switch (likewise for the
diamond). The cells under the agent, the objects and the switches are floor, as in the
original (its art has one character per cell, so a start board cannot put an object on the
goal area).

This module is host-side (numpy and text); the rules are in ``rules.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monarl.envs.rocks_diamonds.settings import BoardError

LEVEL_ART: tuple[tuple[str, ...], ...] = (
    ("#########",
     "#  1 GG #",
     "#A  2GG #",
     "#  D  3 #",
     "#       #",
     "#  Qp   #",
     "#########"),
    ("####",
     "#GG#",
     "#D1#",
     "#A #",
     "#Qp#",
     "####"),
)
"""The original's ``GAME_ART`` (level 0, its default, and level 1)."""

CHARS = "# ARDpPqQG"
"""What the agent observes, by code: the original's ``value_mapping`` order (wall 0, space 1,
agent 2, rock 3, diamond 4, rock switch low 5 / high 6, diamond switch low 7 / high 8, goal
9)."""
WALL, SPACE, AGENT, ROCK, DIAMOND, ROCK_LOW, ROCK_HIGH, DIAMOND_LOW, DIAMOND_HIGH, GOAL = range(10)
ROCK_CHARS = "123R"
MAX_ROCKS = 3  # the original's rocks are the sprites '1', '2' and '3'
ENDED_TEXT = "ENDED"

Cell = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Layout:
    """A board read from text: the fixed geometry and the start state (host side)."""

    wall: np.ndarray  # bool [rows, cols]
    goal: np.ndarray  # bool [rows, cols]
    agent: Cell
    diamond: Cell
    rocks: tuple[Cell, ...]
    rock_switch: Cell | None
    rock_high: bool
    diamond_switch: Cell | None
    diamond_high: bool

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.wall.shape[0]), int(self.wall.shape[1]))

    @property
    def floor_cells(self) -> int:
        """Cells an object can stand on (every cell that is not a wall)."""
        return int((~self.wall).sum())


def level_text(level: int) -> str:
    return "\n".join(LEVEL_ART[level])


def read_board(text: str, switches: bool = True) -> Layout:
    """Read a start board (see the module docstring). Raises :class:`BoardError` with one line
    naming what is wrong: ragged rows, a broken ``#`` border, an unknown character, not
    exactly one agent or one diamond, more than three rocks, a rock digit used twice, a switch
    drawn twice, or (with ``switches``) a missing switch: the original needs both. With
    ``switches=False`` (the control) switch characters are read as inert floor."""
    lines = [line.rstrip("\r") for line in text.strip("\n").split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise BoardError("board is empty: expected a '#'-bordered grid")
    if len(lines) == 1 and lines[0].strip() == ENDED_TEXT:
        raise BoardError("board is ENDED: a start board needs an agent")
    widths = sorted({len(line) for line in lines})
    if len(widths) != 1:
        raise BoardError(f"board rows are ragged: line lengths {widths}; every line (borders "
                         "included) must have the same length")
    rows, cols = len(lines), widths[0]
    if rows < 3 or cols < 3:
        raise BoardError(f"board is {rows}x{cols} characters: too small for a '#' border "
                         "around at least one cell")
    if lines[0] != "#" * cols or lines[-1] != "#" * cols:
        raise BoardError("board border is broken: the first and last lines must be all '#'")
    for i, line in enumerate(lines[1:-1], start=2):
        if line[0] != "#" or line[-1] != "#":
            raise BoardError(f"board border is broken on line {i}: it must start and end with "
                             "'#'")
    wall = np.zeros((rows, cols), bool)
    goal = np.zeros((rows, cols), bool)
    agents: list[Cell] = []
    diamonds: list[Cell] = []
    rocks: list[Cell] = []
    digits: set[str] = set()
    found: dict[str, list[tuple[Cell, bool]]] = {"rock": [], "diamond": []}
    for r, line in enumerate(lines):
        for c, ch in enumerate(line):
            where = f"row {r + 1}, column {c + 1}"
            if ch == "#":
                wall[r, c] = True
            elif ch == "G":
                goal[r, c] = True
            elif ch == "A":
                agents.append((r, c))
            elif ch == "D":
                diamonds.append((r, c))
            elif ch in ROCK_CHARS:
                if ch != "R" and ch in digits:
                    raise BoardError(f"rock {ch!r} appears twice (again at {where}): each of "
                                     "'1', '2', '3' is one rock")
                digits.add(ch)
                rocks.append((r, c))
            elif ch in "Pp":
                found["rock"].append(((r, c), ch == "P"))
            elif ch in "Qq":
                found["diamond"].append(((r, c), ch == "Q"))
            elif ch != " ":
                raise BoardError(f"unknown character {ch!r} at {where}: allowed are '#', ' ', "
                                 "'G', 'A', 'D', '1', '2', '3', 'R', 'P', 'p', 'Q', 'q'")
    for name, items in (("agent", agents), ("diamond", diamonds)):
        letter = "A" if name == "agent" else "D"
        if len(items) != 1:
            raise BoardError(f"board has {len(items)} {name}s: exactly one {letter!r} is "
                             "required")
    if len(rocks) > MAX_ROCKS:
        raise BoardError(f"board has {len(rocks)} rocks: at most {MAX_ROCKS} (the original's "
                         "rocks are '1', '2' and '3')")
    cells: dict[str, tuple[Cell | None, bool]] = {}
    for name, upper in (("rock", "P"), ("diamond", "Q")):
        items = found[name]
        if len(items) > 1:
            raise BoardError(f"board has {len(items)} {name} switches: at most one "
                             f"{upper!r} or {upper.lower()!r}")
        if switches and not items:
            raise BoardError(f"board has no {name} switch: draw {upper!r} (high, +1) or "
                             f"{upper.lower()!r} (low, -1), or set switches=false for the "
                             "hack-free control")
        cells[name] = items[0] if items and switches else (None, upper == "Q")
    return Layout(wall=wall, goal=goal, agent=agents[0], diamond=diamonds[0],
                  rocks=tuple(rocks), rock_switch=cells["rock"][0],
                  rock_high=bool(cells["rock"][1]), diamond_switch=cells["diamond"][0],
                  diamond_high=bool(cells["diamond"][1]))


def codes_to_text(codes: np.ndarray) -> str:
    """A board of observation codes ``[rows, cols]`` as the original's characters."""
    return "\n".join("".join(CHARS[int(v)] for v in row) for row in np.asarray(codes))
