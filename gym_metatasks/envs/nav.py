"""MetaNav: grid navigation to a goal that the agent cannot see."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks.envs.grid import (
    MOVES,
    WALLS,
    Cell,
    GridFamily,
    GridTask,
    manhattan,
    reachable,
)
from gym_metatasks.envs.grid_env import GridTaskEnv
from gym_metatasks.family import Registration, shared_family
from gym_metatasks.meta_env import DEFAULT_TASK_ID
from gym_metatasks.task_rng import TaskRng

GOAL_REWARD = 1.0
STEP_REWARD = -0.01
MAX_GENERATED_SLIP = 0.2
MAX_WALL_DENSITY = 0.3


@dataclass(frozen=True)
class NavTask(GridTask):
    """Parameters of one MetaNav task.

    :param size: side length of the grid (must match the env's ``size``)
    :param start: ``(row, col)`` of the start cell
    :param goal: ``(row, col)`` of the goal cell: not the start, not adjacent to it
    :param walls: ``(row, col)`` cells the agent cannot enter
    :param slip: probability that an action is replaced by a uniformly random one
    """

    walls: tuple[Cell, ...]
    slip: float


class NavFamily(GridFamily[NavTask]):
    """The MetaNav task family (see :class:`MetaNavEnv`)."""

    name = "MetaNav"
    version = 0
    task_class = NavTask
    num_tasks = 1000
    num_train_range = 800
    registrations = (
        Registration("MetaNav-v0", {"size": 8}),
        Registration("MetaNav5x5-v0", {"size": 5}),
        Registration("MetaNav12x12-v0", {"size": 12}),
    )
    cell_kind = WALLS
    scalar_field = "slip"
    goal_reward = GOAL_REWARD
    step_reward = STEP_REWARD

    def default_horizon(self) -> int:
        return 2 * self.size * self.size

    def _generate(self, rng: TaskRng) -> NavTask:
        size = self.size
        slip = 0.0 if rng.bernoulli(0.5) else round(rng.uniform(0.0, MAX_GENERATED_SLIP), 3)
        density = rng.uniform(0.0, MAX_WALL_DENSITY)
        cells = [(r, c) for r in range(size) for c in range(size)]
        while True:
            walls = frozenset(cell for cell in cells if rng.bernoulli(density))
            free = [cell for cell in cells if cell not in walls]
            if len(free) < 3:
                continue
            start = rng.choice(free)
            candidates = sorted(
                cell for cell in reachable(start, size, walls) if manhattan(cell, start) >= 2
            )
            if candidates:
                goal = rng.choice(candidates)
                return NavTask(size, start, goal, tuple(sorted(walls)), slip)

    def _check_goal(self, start: Cell, goal: Cell) -> None:
        if manhattan(start, goal) < 2:
            raise ValueError(
                f"task.goal {goal} must be neither the start {start} nor adjacent to it"
            )

    def move_probabilities(self, task: NavTask, action: int) -> tuple[tuple[int, float], ...]:
        """Every direction: the chosen one with ``1 - slip + slip / 4``, each other with
        ``slip / 4``."""
        return tuple(
            (direction, task.slip / len(MOVES) + (1.0 - task.slip) * (direction == action))
            for direction in range(len(MOVES))
        )

    @property
    def observation_space(self) -> spaces.Box:
        """One-hot cell: ``Box(0, 1, (size * size,), float32)``."""
        return spaces.Box(0.0, 1.0, shape=(self.num_states,), dtype=np.float32)

    def observation(self, state: int) -> NDArray[np.float32]:
        return self._eye[state].copy()

    @functools.cached_property
    def _eye(self) -> NDArray[np.float32]:
        return np.eye(self.num_states, dtype=np.float32)


class MetaNavEnv(GridTaskEnv):
    """
    ## Description
    Navigate a grid to a goal cell. Tasks differ in start cell, goal cell, interior walls
    (wall density varies by task) and slip probability. Neither the goal nor the walls
    appear in the observation: an agent must find them by acting, or be told through the
    task descriptor (``info["task_descriptor"]``, or the ``ObserveDescriptor`` wrapper).

    ## Action Space
    ``Discrete(4)``: 0 left, 1 down, 2 right, 3 up (FrozenLake's convention). With the
    task's ``slip`` probability the action is replaced by a uniformly random one (which
    may be the same action). Moving off the grid or into a wall leaves the agent in place.

    ## Observation Space
    | Space | Content |
    |-------|---------|
    | ``Box(0, 1, (size * size,), float32)`` | one-hot of the agent's cell, row-major (``row * size + col``) |

    ## Rewards
    ``+1`` on the step that enters the goal, ``-0.01`` on every other step.

    ## Starting State
    The task's start cell; resets draw no randomness.

    ## Episode End
    - Termination: the agent enters the goal.
    - Truncation: the registered time limit, ``2 * size * size`` steps (128 for 8x8).

    ## Information
    Every ``reset`` and ``step`` returns these keys:

    - ``task_id``: id of the active task, ``None`` for explicit parameters
    - ``task_descriptor``: float32 array (a new copy each call), shape ``(D,)``, see below
    - ``is_success``: ``True`` on the step that enters the goal

    ## Arguments
    ```python
    import gymnasium as gym
    import gym_metatasks
    env = gym.make("MetaNav-v0", task_id=3, render_mode="ansi")
    ```

    | Parameter | Type | Default | Description |
    |-----------|------|---------|-------------|
    | ``task_id`` | ``int`` | ``0`` | task of the family, in ``[0, 1000)`` |
    | ``task`` | ``NavTask`` or ``dict`` | ``None`` | explicit parameters instead of ``task_id`` (or a ``gym_metatasks.Task``, which keeps its id) |
    | ``size`` | ``int`` | ``8`` | side length of the grid, in ``[3, 32]`` |
    | ``render_mode`` | ``str`` | ``None`` | ``"ansi"``, ``"rgb_array"`` or ``"human"`` (needs pygame) |

    A task can be switched with ``reset(options={"task_id": k})`` or scheduled for the
    next reset with ``env.unwrapped.set_task(k)`` / ``env.unwrapped.task_id = k``.

    ## Task Descriptor
    ``D = 5 + size * size`` values in ``[0, 1]``:

    | Index | Name | Meaning |
    |-------|------|---------|
    | 0, 1 | ``start_row``, ``start_col`` | start cell / ``(size - 1)`` |
    | 2, 3 | ``goal_row``, ``goal_col`` | goal cell / ``(size - 1)`` |
    | 4 | ``slip`` | slip probability |
    | 5 + ``row * size + col`` | ``wall_r{row}_c{col}`` | 1 if the cell is a wall |

    Task generation: half the tasks have ``slip = 0``, the rest ``slip ~ U[0, 0.2]``; wall
    density ``~ U[0, 0.3]``; start uniform over free cells; goal uniform over cells
    reachable from the start at Manhattan distance >= 2. 1000 tasks: ids ``[0, 800)``
    form the train range, whose last 10% is the validation split and the rest the train
    split, and ``[800, 1000)`` the test split (duplicates by descriptor removed; for 8x8
    there are none).
    The oracle is exact: ``optimal_return``, ``random_return`` and ``policy_return`` by dynamic
    programming on the tabular model the env steps through.

    ## Registered Configurations
    - ``MetaNav-v0``: 8x8, 128 steps
    - ``MetaNav5x5-v0``: 5x5, 50 steps
    - ``MetaNav12x12-v0``: 12x12, 288 steps

    ## Version History
    - v0: initial release.
    """

    symbols = ".#GS"
    palette = np.array([[235, 235, 235], [60, 60, 70], [60, 180, 75], [150, 190, 240]], np.uint8)

    def __init__(
        self,
        task_id: Any = DEFAULT_TASK_ID,
        task: NavTask | dict[str, Any] | None = None,
        size: int = 8,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(shared_family(NavFamily, size=size), task_id, task, render_mode)
