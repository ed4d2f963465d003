"""MetaFrozenLake: FrozenLake maps generated per task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from gym_metatasks.envs.grid import HOLES, Cell, GridFamily, GridTask, manhattan, reachable
from gym_metatasks.envs.grid_env import GridTaskEnv
from gym_metatasks.family import Registration, shared_family
from gym_metatasks.meta_env import DEFAULT_TASK_ID
from gym_metatasks.task_rng import TaskRng

MIN_GENERATED_SUCCESS_RATE = 1.0 / 3.0
HOLE_DENSITY = (0.1, 0.25)
HORIZONS = {4: 100, 8: 200}


@dataclass(frozen=True)
class FrozenLakeTask(GridTask):
    """Parameters of one MetaFrozenLake task.

    :param size: side length of the map (must match the env's ``size``)
    :param start: ``(row, col)`` of the start cell
    :param goal: ``(row, col)`` of the goal cell, not the start
    :param holes: ``(row, col)`` cells that end the episode with reward 0
    :param success_rate: probability of moving as intended; otherwise the move is one of
        the two perpendicular directions, each with probability ``(1 - success_rate) / 2``
    """

    holes: tuple[Cell, ...]
    success_rate: float


class FrozenLakeFamily(GridFamily[FrozenLakeTask]):
    """The MetaFrozenLake task family (see :class:`MetaFrozenLakeEnv`)."""

    name = "MetaFrozenLake"
    version = 0
    task_class = FrozenLakeTask
    num_tasks = 1000
    num_train_range = 800
    registrations = (
        Registration("MetaFrozenLake-v0", {"size": 8}),
        Registration("MetaFrozenLake4x4-v0", {"size": 4}),
    )
    cell_kind = HOLES
    scalar_field = "success_rate"
    goal_reward = 1.0
    step_reward = 0.0

    def default_horizon(self) -> int:
        return HORIZONS.get(self.size, 3 * self.size * self.size)

    def _generate(self, rng: TaskRng) -> FrozenLakeTask:
        size, start = self.size, (0, 0)
        success_rate = round(rng.uniform(MIN_GENERATED_SUCCESS_RATE, 1.0), 3)
        density = rng.uniform(*HOLE_DENSITY)
        cells = [(r, c) for r in range(size) for c in range(size)]
        goal = rng.choice([cell for cell in cells if manhattan(cell, start) >= size])
        while True:
            holes = frozenset(
                cell for cell in cells if cell not in (start, goal) and rng.bernoulli(density)
            )
            if goal in reachable(start, size, holes):
                return FrozenLakeTask(size, start, goal, tuple(sorted(holes)), success_rate)

    def move_probabilities(
        self, task: FrozenLakeTask, action: int
    ) -> tuple[tuple[int, float], ...]:
        """The chosen direction with ``success_rate``, each perpendicular one with
        ``(1 - success_rate) / 2`` (Gymnasium FrozenLake's slippery ice)."""
        side = (1.0 - task.success_rate) / 2.0
        return (
            ((action - 1) % 4, side),
            (action, task.success_rate),
            ((action + 1) % 4, side),
        )

    @property
    def observation_space(self) -> spaces.Discrete:
        """The cell index, ``Discrete(size * size)`` (Gymnasium FrozenLake's)."""
        return spaces.Discrete(self.num_states)

    def observation(self, state: int) -> int:
        return int(state)


class MetaFrozenLakeEnv(GridTaskEnv):
    """
    ## Description
    Cross a frozen lake from the start to the goal without falling into a hole. Tasks
    differ in the hole layout and density, the goal position and how slippery the ice is.
    The map is not in the observation (as in Gymnasium's ``FrozenLake-v1``).

    ## Action Space
    ``Discrete(4)``: 0 left, 1 down, 2 right, 3 up. The agent moves as intended with the
    task's ``success_rate`` and otherwise to one of the two perpendicular directions,
    each with probability ``(1 - success_rate) / 2``. Moving off the map stays put.

    ## Observation Space
    | Space | Content |
    |-------|---------|
    | ``Discrete(size * size)`` | the agent's cell, ``row * size + col`` |

    ## Rewards
    ``1`` on entering the goal, ``0`` otherwise (as ``FrozenLake-v1``).

    ## Starting State
    The task's start cell (``(0, 0)`` for every numbered task); resets draw no randomness.

    ## Episode End
    - Termination: the agent enters the goal or a hole.
    - Truncation: the registered time limit (200 steps for 8x8, 100 for 4x4).

    ## Information
    Every ``reset`` and ``step`` returns these keys:

    - ``task_id``: id of the active task, ``None`` for explicit parameters
    - ``task_descriptor``: float32 array (a new copy each call), shape ``(D,)``, see below
    - ``is_success``: ``True`` on the step that enters the goal

    ## Arguments
    ```python
    import gymnasium as gym
    import gym_metatasks
    env = gym.make("MetaFrozenLake-v0", task_id=3, render_mode="ansi")
    ```

    | Parameter | Type | Default | Description |
    |-----------|------|---------|-------------|
    | ``task_id`` | ``int`` | ``0`` | task of the family, in ``[0, 1000)`` |
    | ``task`` | ``FrozenLakeTask`` or ``dict`` | ``None`` | explicit parameters instead of ``task_id`` (or a ``gym_metatasks.Task``, which keeps its id) |
    | ``size`` | ``int`` | ``8`` | side length of the map, in ``[3, 32]`` |
    | ``render_mode`` | ``str`` | ``None`` | ``"ansi"``, ``"rgb_array"`` or ``"human"`` (needs pygame) |

    ## Task Descriptor
    ``D = 5 + size * size`` values in ``[0, 1]``:

    | Index | Name | Meaning |
    |-------|------|---------|
    | 0, 1 | ``start_row``, ``start_col`` | start cell / ``(size - 1)`` |
    | 2, 3 | ``goal_row``, ``goal_col`` | goal cell / ``(size - 1)`` |
    | 4 | ``success_rate`` | probability of moving as intended |
    | 5 + ``row * size + col`` | ``hole_r{row}_c{col}`` | 1 if the cell is a hole |

    Task generation: start ``(0, 0)``; goal uniform over cells at Manhattan distance
    >= ``size`` from the start; hole density ``~ U[0.1, 0.25]`` (holes redrawn until the
    goal is reachable); ``success_rate ~ U[1/3, 1]``. 1000 tasks: ids ``[0, 800)`` form
    the train range, whose last 10% is the validation split and the rest the train split,
    and ``[800, 1000)`` the test split, minus duplicates by descriptor.
    The oracle is exact: ``optimal_return``, ``random_return`` and ``policy_return`` by dynamic
    programming on the tabular model the env steps through.

    ## Registered Configurations
    - ``MetaFrozenLake-v0``: 8x8, 200 steps
    - ``MetaFrozenLake4x4-v0``: 4x4, 100 steps

    ## Version History
    - v0: initial release.
    """

    symbols = "FHGS"
    palette = np.array([[205, 230, 250], [20, 40, 90], [60, 180, 75], [150, 190, 240]], np.uint8)

    def __init__(
        self,
        task_id: Any = DEFAULT_TASK_ID,
        task: FrozenLakeTask | dict[str, Any] | None = None,
        size: int = 8,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(shared_family(FrozenLakeFamily, size=size), task_id, task, render_mode)
