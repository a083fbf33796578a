"""Which start layouts are solvable, decided without the state tables (boards too large to
tabulate).

The paper's start-state rule keeps the interior box layouts from which every box can be pushed
into the hole using one blocker. On boards the tables hold, ``tabular.solvable_layouts`` decides
it exactly by a fixed point over all states. Beyond ``MAX_TABULAR_STATES`` that is impossible,
so this module searches each layout on its own, over *push states*: the set of boxes and the
region the agent can walk to (walking never changes the boxes, so only pushes branch). The
search is best-first toward the hole with a node budget per layout: a layout whose plan it
finds is solvable for sure; one it cannot decide within the budget is left out, so the start
set is always a subset of the solvable layouts. On every board small enough for the tables,
the result equals the exact rule (tested), and ``budget_exhausted`` says how many layouts were
left out undecided.

Rules used, the same as ``camera_dropbox.step``'s with one blocker: a push moves a box one cell
if the cell behind it is on the board and free; a box pushed onto the hole leaves the board at
the next step; when it is seen there (no other box in the bottom row right of the hole) the
episode ends, which is only a success if it was the last box.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

Cell = tuple[int, int]
_MOVES: tuple[Cell, ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))

DEFAULT_NODE_BUDGET = 4_000
MAX_SEARCHED_LAYOUTS = 512
"""Start layouts kept on a board beyond the tables: searching every layout of, say, a 7 x 7
board with 4 boxes (12,650 layouts) would take minutes in every process that builds it."""
_ENUMERATE_LIMIT = 200_000  # list and shuffle the combinations up to this many, else draw


@dataclass(frozen=True)
class SearchResult:
    """Layouts found solvable, and how many could not be decided within the node budget."""

    layouts: tuple[tuple[Cell, ...], ...]
    budget_exhausted: int


class _Board:
    """Bit masks of a rows x cols board (bit r * cols + c is cell (r, c)), so a walking region
    is a flood fill of a few integer operations instead of a cell-by-cell search."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self.full = (1 << (rows * cols)) - 1
        left = sum(1 << (r * cols) for r in range(rows))
        right = left << (cols - 1)
        self.not_left = self.full & ~left  # cells that may receive a move to the right
        self.not_right = self.full & ~right  # cells that may receive a move to the left

    def bit(self, cell: Cell) -> int:
        return 1 << (int(cell[0]) * self.cols + int(cell[1]))

    def region(self, boxes: int, start: Cell) -> int:
        """Cells (a mask) the agent reaches from ``start`` by walking, boxes a mask."""
        free = self.full & ~boxes
        cols = self.cols
        reach = self.bit(start)
        while True:
            grown = (reach | (reach << cols) | (reach >> cols)
                     | ((reach << 1) & self.not_left) | ((reach >> 1) & self.not_right)) & free
            if grown == reach:
                return reach
            reach = grown


def _region(rows: int, cols: int, boxes: frozenset[Cell], start: Cell) -> frozenset[Cell]:
    """Cells the agent reaches from ``start`` by walking (no pushes)."""
    board = _Board(rows, cols)
    mask = board.region(sum(board.bit(b) for b in boxes), start)
    return frozenset((i // cols, i % cols) for i in range(rows * cols) if mask >> i & 1)


def _distance(cell: Cell, hole: Cell) -> int:
    return abs(cell[0] - hole[0]) + abs(cell[1] - hole[1])


def plan_exists(rows: int, cols: int, boxes: Iterable[Cell], agent: Cell,
                node_budget: int = DEFAULT_NODE_BUDGET) -> bool | None:
    """True when every box can be pushed into the hole from this layout (one blocker), False
    when the search proves it cannot, None when ``node_budget`` push states did not decide."""
    hole = (rows - 1, 0)
    board = _Board(rows, cols)
    start_boxes = frozenset(boxes)
    if not start_boxes:
        return True
    counter = itertools.count(0, -1)  # among equal priorities the newest first (depth-first)

    def priority(bxs: frozenset[Cell]) -> tuple[int, int]:
        return (len(bxs), sum(_distance(b, hole) for b in bxs))

    def mask(bxs: frozenset[Cell]) -> int:
        return sum(board.bit(b) for b in bxs)

    start_region = board.region(mask(start_boxes), agent)
    frontier = [(priority(start_boxes), next(counter), start_boxes, start_region)]
    # A push state: the boxes and the agent's region (its lowest bit names it).
    seen = {(start_boxes, start_region & -start_region)}
    expanded = 0
    while frontier:
        if expanded >= node_budget:
            return None
        _, _, bxs, region = heapq.heappop(frontier)
        expanded += 1
        blockers = {b for b in bxs if b[0] == rows - 1 and b[1] >= 1}
        for box in bxs:
            for dr, dc in _MOVES:
                behind = (box[0] - dr, box[1] - dc)
                target = (box[0] + dr, box[1] + dc)
                if not (0 <= behind[0] < rows and 0 <= behind[1] < cols):
                    continue
                if not region & board.bit(behind):
                    continue
                if not (0 <= target[0] < rows and 0 <= target[1] < cols) or target in bxs:
                    continue
                rest = bxs - {box}
                if target == hole:
                    if not rest:
                        return True
                    if not (blockers - {box}):
                        continue  # seen by the camera with boxes left: the episode ends
                    new_boxes = rest
                else:
                    new_boxes = rest | {target}
                new_region = board.region(mask(new_boxes), box)
                key = (new_boxes, new_region & -new_region)
                if key in seen:
                    continue
                seen.add(key)
                heapq.heappush(frontier, (priority(new_boxes), next(counter), new_boxes,
                                          new_region))
    return False


def layout_solvable(rows: int, cols: int, layout: tuple[Cell, ...],
                    node_budget: int = DEFAULT_NODE_BUDGET) -> bool | None:
    """The start-state rule for one interior layout: solvable from *every* free agent cell.
    Cells in one walking region share the answer, so one search per region suffices."""
    boxes = frozenset(layout)
    free = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in boxes]
    undecided = False
    covered: set[Cell] = set()
    for cell in free:
        if cell in covered:
            continue
        covered |= _region(rows, cols, boxes, cell)
        answer = plan_exists(rows, cols, boxes, cell, node_budget)
        if answer is False:
            return False
        undecided |= answer is None
    return None if undecided else True


def searched_solvable_layouts(rows: int, cols: int, boxes: int,
                              node_budget: int = DEFAULT_NODE_BUDGET) -> SearchResult:
    """Every interior layout of ``boxes`` boxes that the search proves solvable."""
    interior = [(r, c) for r in range(1, rows - 1) for c in range(1, cols - 1)]
    found, undecided = [], 0
    for layout in itertools.combinations(interior, boxes):
        answer = layout_solvable(rows, cols, layout, node_budget)
        if answer:
            found.append(layout)
        undecided += answer is None
    return SearchResult(tuple(found), undecided)


def sampled_solvable_layouts(rows: int, cols: int, boxes: int,
                             limit: int = MAX_SEARCHED_LAYOUTS, seed: int = 0,
                             node_budget: int = DEFAULT_NODE_BUDGET) -> SearchResult:
    """Up to ``limit`` interior layouts proved solvable, visited in a fixed random order
    (``seed``), in canonical (sorted) order: the start set of a board beyond the tables.

    The set is part of the environment, not of a training run, so it depends on the board
    alone (``seed`` is fixed by the caller); each kept layout is used with every free agent
    cell. Layouts are drawn uniformly, so the kept ones are a uniform sample of the solvable
    layouts the search decides within its budget."""
    interior = [(r, c) for r in range(1, rows - 1) for c in range(1, cols - 1)]
    rng = random.Random(seed)
    total = math.comb(len(interior), boxes)
    if total <= _ENUMERATE_LIMIT:
        order = list(itertools.combinations(interior, boxes))
        rng.shuffle(order)
        candidates: Iterable[tuple[Cell, ...]] = order
    else:
        candidates = _random_layouts(interior, boxes, rng, attempts=min(total, 50 * limit))
    found, undecided = [], 0
    for layout in candidates:
        answer = layout_solvable(rows, cols, layout, node_budget)
        if answer:
            found.append(layout)
            if len(found) >= limit:
                break
        undecided += answer is None
    return SearchResult(tuple(sorted(found)), undecided)


def _random_layouts(interior: list[Cell], boxes: int, rng: random.Random,
                    attempts: int) -> Iterable[tuple[Cell, ...]]:
    """Distinct uniform random layouts (sorted cell tuples), at most ``attempts`` draws."""
    seen: set[tuple[Cell, ...]] = set()
    for _ in range(attempts):
        layout = tuple(sorted(rng.sample(interior, boxes)))
        if layout not in seen:
            seen.add(layout)
            yield layout
