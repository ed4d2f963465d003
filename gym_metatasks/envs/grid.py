"""Shared machinery of the grid families: geometry, the tabular model behind each task and
exact oracle returns."""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks import tabular
from gym_metatasks.family import TaskFamily
from gym_metatasks.validation import check_int

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
MOVES: tuple[tuple[int, int], ...] = ((0, -1), (1, 0), (0, 1), (-1, 0))
ACTION_NAMES: tuple[str, ...] = ("Left", "Down", "Right", "Up")
Cell = tuple[int, int]
TaskT = TypeVar("TaskT")


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


class GridFamily(TaskFamily[TaskT]):
    """A family of ``size x size`` grid tasks with an exact tabular model.

    :param size: side length of the grid
    """

    oracle = "exact"
    min_size: ClassVar[int] = 3
    max_size: ClassVar[int] = 32

    def __init__(self, size: int = 8, *, horizon: int | None = None, env_id: str | None = None):
        self.size = check_int("size", size, self.min_size, self.max_size)
        super().__init__(horizon=horizon, env_id=env_id)
        self._models: dict[Any, tabular.TabularModel] = {}

    @property
    def config(self) -> dict[str, Any]:
        return {"size": self.size}

    @property
    def num_states(self) -> int:
        return self.size * self.size

    def cell_index(self, cell: Cell) -> int:
        return cell[0] * self.size + cell[1]

    def cells_descriptor(self, cells: Iterable[Cell]) -> NDArray[np.float32]:
        """Row-major ``size * size`` indicator of ``cells``."""
        mask = np.zeros(self.num_states, dtype=np.float32)
        for cell in cells:
            mask[self.cell_index(cell)] = 1.0
        return mask

    def cell_names(self, prefix: str) -> tuple[str, ...]:
        return tuple(f"{prefix}_r{r}_c{c}" for r in range(self.size) for c in range(self.size))

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _build_model(self, task: TaskT) -> tabular.TabularModel:
        """The task's transition model over cells (state = ``row * size + col``)."""

    @abc.abstractmethod
    def layout(self, task: TaskT) -> NDArray[np.int8]:
        """``(size, size)`` cell codes (see ``grid_render``) for rendering."""

    @abc.abstractmethod
    def goal_state(self, task: TaskT) -> int:
        """Index of the goal cell."""

    @property
    @abc.abstractmethod
    def observation_space(self) -> spaces.Space[Any]:
        """The observation space of the family's envs (the same for every task)."""

    @abc.abstractmethod
    def observation(self, state: int) -> Any:
        """What the env observes in ``state`` (a fresh object each call)."""

    def state_observations(self) -> list[Any]:
        """The observation of every state, in state order."""
        return [self.observation(s) for s in range(self.num_states)]

    # ------------------------------------------------------------------ oracle
    def model(self, task: Any) -> tabular.TabularModel:
        """The exact transition model of a task id or explicit task."""
        _, params = self.resolve(task)
        if params not in self._models:
            if len(self._models) >= 4096:
                self._models.clear()
            self._models[params] = self._build_model(params)
        return self._models[params]

    def optimal_q_values(self, task: Any, horizon: int | None = None) -> NDArray[np.float64]:
        """Q* for every number of remaining steps: ``(horizon + 1, S, A)``; entry ``[t]``
        is Q* with ``t`` steps left. Acting greedily on ``[horizon - step]`` is optimal."""
        return tabular.optimal_q_values(self.model(task), self._horizon(horizon))

    def policy_return(self, task: Any, policy: Any, horizon: int | None = None) -> float:
        """Expected undiscounted return of a deterministic policy within the time limit, by
        dynamic programming on the model the env steps through.

        :param policy: an action per state (``(num_states,)`` ints in ``[0, 4)``), or a
            model with ``predict(observations, deterministic=True)`` (SB3's), asked once for
            the batch of :meth:`state_observations`
        """
        model = self.model(task)
        if hasattr(policy, "predict"):
            batch = np.stack([np.asarray(o) for o in self.state_observations()])
            policy, _ = policy.predict(batch, deterministic=True)
        actions = np.asarray(policy)
        if actions.shape != (self.num_states,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"policy must give one int action per state, shape ({self.num_states},), got "
                f"{actions.dtype} array of shape {actions.shape}"
            )
        if actions.min() < 0 or actions.max() >= model.num_actions:
            raise ValueError(
                f"policy actions must be in [0, {model.num_actions}), got values in "
                f"[{actions.min()}, {actions.max()}]"
            )
        return tabular.policy_return(model, actions, self._horizon(horizon))

    def _optimal_return(self, task: TaskT, horizon: int) -> float:
        return tabular.optimal_return(self.model(task), horizon)

    def _random_return(self, task: TaskT, horizon: int, task_id: int | None) -> float:
        return tabular.uniform_policy_return(self.model(task), horizon)
