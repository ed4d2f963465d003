"""What the grid families share: cell geometry, the fields of every grid task, and
:class:`GridFamily`, which derives a task's validation, descriptor, tabular model and
layout from those fields. A grid family adds how tasks are generated, how moves slip and
what they are rewarded."""

from __future__ import annotations

import abc
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks import tabular
from gym_metatasks.envs.grid_descriptor import Cell, GridDescriptorLayout
from gym_metatasks.envs.grid_render import BLOCKED, FREE, GOAL, START
from gym_metatasks.tabular_family import TabularFamily
from gym_metatasks.validation import check_cell, check_cells, check_int, check_real

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
MOVES: tuple[tuple[int, int], ...] = ((0, -1), (1, 0), (0, 1), (-1, 0))
ACTION_NAMES: tuple[str, ...] = ("Left", "Down", "Right", "Up")


def move(cell: Cell, action: int, size: int, blocked: frozenset[Cell]) -> Cell:
    """The cell reached by ``action``; moving off the grid or into ``blocked`` stays put."""
    row, col = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
    if 0 <= row < size and 0 <= col < size and (row, col) not in blocked:
        return row, col
    return cell


def reachable(start: Cell, size: int, blocked: frozenset[Cell]) -> set[Cell]:
    """Cells reachable from ``start`` without entering ``blocked`` (breadth-first)."""
    seen, frontier = {start}, deque([start])
    while frontier:
        cell = frontier.popleft()
        for action in range(len(MOVES)):
            nxt = move(cell, action, size, blocked)
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def manhattan(a: Cell, b: Cell) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


@dataclass(frozen=True)
class GridTask:
    """The fields every grid task starts with; a family's task class adds two more, its
    marked cells (named by :attr:`GridFamily.cell_kind`) and its scalar (named by
    :attr:`GridFamily.scalar_field`).

    :param size: side length of the grid (must match the family's ``size``)
    :param start: ``(row, col)`` of the start cell
    :param goal: ``(row, col)`` of the goal cell
    """

    size: int
    start: Cell
    goal: Cell


TaskT = TypeVar("TaskT", bound=GridTask)


@dataclass(frozen=True)
class CellKind:
    """What the marked cells of a grid family are.

    :param field: the task field that lists them
    :param name: descriptor entries are named ``{name}_r{row}_c{col}``
    :param blocks_moves: a move into one leaves the agent in place
    :param ends_episode: entering one ends the episode, with the step reward
    :param occupied: ends the error raised when the start or the goal is one
        (``task.start (1, 1) is on a wall``)
    :param cut_off: the error raised when the goal cannot be reached
        (``task.goal (3, 6) is walled off from (0, 0)``)
    """

    field: str
    name: str
    blocks_moves: bool
    ends_episode: bool
    occupied: str
    cut_off: str


WALLS = CellKind("walls", "wall", True, False, "is on a wall", "is walled off from")
HOLES = CellKind("holes", "hole", False, True, "is a hole", "is cut off by holes from")


class GridFamily(TabularFamily[TaskT]):
    """A family of ``size x size`` grid tasks with an exact tabular model.

    A subclass sets :attr:`cell_kind`, :attr:`scalar_field` and the two rewards, and
    implements ``_generate``, ``default_horizon``, :meth:`move_probabilities` and the
    observations (:attr:`observation_space`, :meth:`observation`).

    :param size: side length of the grid
    :param horizon: see :class:`~gym_metatasks.family.TaskFamily`
    :param env_id: see :class:`~gym_metatasks.family.TaskFamily`
    """

    min_size: ClassVar[int] = 3
    max_size: ClassVar[int] = 32
    cell_kind: ClassVar[CellKind]
    scalar_field: ClassVar[str]
    """The task field behind descriptor entry 4, a probability."""
    goal_reward: ClassVar[float]
    """Reward of the step that enters the goal."""
    step_reward: ClassVar[float]
    """Reward of every other step."""

    def __init__(self, size: int = 8, *, horizon: int | None = None, env_id: str | None = None):
        self.size = check_int("size", size, self.min_size, self.max_size)
        super().__init__(horizon=horizon, env_id=env_id)

    @property
    def config(self) -> dict[str, Any]:
        return {"size": self.size}

    @property
    def num_states(self) -> int:
        return self.size * self.size

    def cell_index(self, cell: Cell) -> int:
        return cell[0] * self.size + cell[1]

    @property
    def descriptor_layout(self) -> GridDescriptorLayout:
        """Where start, goal, scalar and cell mask sit in this family's descriptors."""
        return GridDescriptorLayout(self.size)

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return self.descriptor_layout.names(self.scalar_field, self.cell_kind.name)

    def marked_cells(self, task: TaskT) -> tuple[Cell, ...]:
        """The task's walls or holes (its :attr:`cell_kind` field)."""
        cells: tuple[Cell, ...] = getattr(task, self.cell_kind.field)
        return cells

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def move_probabilities(self, task: TaskT, action: int) -> tuple[tuple[int, float], ...]:
        """``(direction, probability)`` of each move the agent may make when it chooses
        ``action`` (directions index :data:`MOVES`; probabilities sum to 1)."""

    @property
    @abc.abstractmethod
    def observation_space(self) -> spaces.Space[Any]:
        """The observation space of the family's envs (the same for every task)."""

    def _check_goal(self, start: Cell, goal: Cell) -> None:
        """Raise ``ValueError`` if ``goal`` is too close to ``start``; by default only the
        start itself is."""
        if goal == start:
            raise ValueError(f"task.goal {goal} must differ from task.start")

    # ------------------------------------------------------------------ task
    def _validate(self, task: TaskT) -> TaskT:
        size = check_int("task.size", task.size, self.min_size, self.max_size)
        if size != self.size:
            raise ValueError(f"task.size must be {self.size} (the env's size), got {size}")
        start = check_cell("task.start", task.start, size)
        goal = check_cell("task.goal", task.goal, size)
        kind = self.cell_kind
        cells = check_cells(f"task.{kind.field}", self.marked_cells(task), size)
        scalar = check_real(f"task.{self.scalar_field}", getattr(task, self.scalar_field), 0.0, 1.0)
        marked = frozenset(cells)
        if start in marked:
            raise ValueError(f"task.start {start} {kind.occupied}")
        if goal in marked:
            raise ValueError(f"task.goal {goal} {kind.occupied}")
        self._check_goal(start, goal)
        if goal not in reachable(start, size, marked):
            raise ValueError(f"unsolvable task: task.goal {goal} {kind.cut_off} {start}")
        fields = {kind.field: cells, self.scalar_field: scalar}
        validated: TaskT = self.task_class(size=size, start=start, goal=goal, **fields)
        return validated

    def _descriptor(self, task: TaskT) -> NDArray[np.float32]:
        scalar = getattr(task, self.scalar_field)
        return self.descriptor_layout.encode(task.start, task.goal, scalar, self.marked_cells(task))

    def _build_model(self, task: TaskT) -> tabular.TabularModel:
        """The task's transition model over cells (state = ``row * size + col``)."""
        size, goal = self.size, self.cell_index(task.goal)
        marked = frozenset(self.marked_cells(task))
        walls = marked if self.cell_kind.blocks_moves else frozenset()
        ends = marked if self.cell_kind.ends_episode else frozenset()
        outcomes: list[list[dict[int, tuple[float, float, bool]]]] = []
        for r in range(size):
            for c in range(size):
                here = self.cell_index((r, c))
                per_action = []
                for action in range(len(MOVES)):
                    row: dict[int, tuple[float, float, bool]] = {}
                    if here == goal or (r, c) in ends:
                        row[here] = (1.0, 0.0, True)  # absorbing after the episode ended
                    else:
                        for direction, p in self.move_probabilities(task, action):
                            if p == 0.0:
                                continue
                            cell = move((r, c), direction, size, walls)
                            nxt = self.cell_index(cell)
                            done = nxt == goal or cell in ends
                            reward = self.goal_reward if nxt == goal else self.step_reward
                            old = row.get(nxt, (0.0, reward, done))[0]
                            row[nxt] = (old + p, reward, done)
                    per_action.append(row)
                outcomes.append(per_action)
        return tabular.TabularModel.from_outcomes(outcomes, self.cell_index(task.start))

    def layout(self, task: TaskT) -> NDArray[np.int8]:
        """``(size, size)`` cell codes (see ``grid_render``) for rendering."""
        grid = np.full((self.size, self.size), FREE, dtype=np.int8)
        for cell in self.marked_cells(task):
            grid[cell] = BLOCKED
        grid[task.start] = START
        grid[task.goal] = GOAL
        return grid

    def goal_state(self, task: TaskT) -> int:
        """Index of the goal cell."""
        return self.cell_index(task.goal)
