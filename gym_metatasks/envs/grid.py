"""Shared machinery of the grid families: geometry, the tabular model behind each task,
exact oracle returns, and the base environment that steps through that model."""

from __future__ import annotations

import abc
import operator
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks import tabular
from gym_metatasks.envs.grid_render import HumanWindow, render_ansi, render_rgb
from gym_metatasks.family import TaskFamily
from gym_metatasks.meta_env import MetaTaskEnv
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


class GridTaskEnv(MetaTaskEnv):
    """Base environment of the grid families: steps through the task's tabular model.

    Subclasses set ``symbols`` and ``palette``; the family gives the observations.
    """

    metadata: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        "render_modes": ["human", "ansi", "rgb_array"],
        "render_fps": 8,
    }
    symbols: ClassVar[str]
    palette: ClassVar[NDArray[np.uint8]]
    family: GridFamily[Any]

    def __init__(
        self, family: GridFamily[Any], task_id: Any, task: Any, render_mode: str | None
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.size = family.size
        self.action_space = spaces.Discrete(len(MOVES))
        self.observation_space = family.observation_space
        self._observe = family.observation
        self._state = 0
        self._last_action: int | None = None
        self._window: HumanWindow | None = None
        self._init_task(family, task_id, task)

    # ------------------------------------------------------------------ task
    def _apply_task(self, params: Any) -> None:
        model = self.family.model(params)
        table = []
        for s in range(model.num_states):
            row = []
            for a in range(model.num_actions):
                keep = model.prob[s, a] > 0
                cumulative = np.cumsum(model.prob[s, a][keep]).tolist()
                cumulative[-1] = float("inf")  # guard against rounding
                row.append(
                    (
                        tuple(cumulative),
                        tuple(int(x) for x in model.next_state[s, a][keep]),
                        tuple(float(x) for x in model.reward[s, a][keep]),
                        tuple(bool(x) for x in model.terminal[s, a][keep]),
                    )
                )
            table.append(row)
        self._table = table
        self._start = model.start
        self._goal = self.family.goal_state(params)
        self._layout = self.family.layout(params)

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._switch_task_for_reset(options)
        self._state = self._start
        self._last_action = None
        if self.render_mode == "human":
            self.render()
        return self._observe(self._state), self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            a = operator.index(action)
        except TypeError:
            a = -1
        if not 0 <= a < len(MOVES):
            raise ValueError(f"action must be an int in [0, {len(MOVES)}), got {action!r}")
        cumulative, next_states, rewards, terminals = self._table[self._state][a]
        k = 0
        if len(cumulative) > 1:
            u = self.np_random.random()
            while u >= cumulative[k]:
                k += 1
        self._state = next_states[k]
        self._last_action = a
        if self.render_mode == "human":
            self.render()
        success = self._state == self._goal
        return self._observe(self._state), rewards[k], terminals[k], False, self._info(success)

    def render(self) -> Any:
        if self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            action = "" if self._last_action is None else ACTION_NAMES[self._last_action]
            return render_ansi(self._layout, self._state, self.symbols, action)
        frame = render_rgb(self._layout, self._state, self.palette)
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = HumanWindow(type(self).__name__, self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
