"""MetaMountainCar: Gymnasium's MountainCar with task-specific engine and gravity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gymnasium.envs.classic_control.mountain_car import MountainCarEnv

from gym_metatasks.envs.physics import Parameter, PhysicsFamily, PhysicsTaskEnv
from gym_metatasks.family import Registration, shared_family
from gym_metatasks.meta_env import DEFAULT_TASK_ID, MetaTaskEnv


@dataclass(frozen=True)
class MountainCarTask:
    """Physics of one MetaMountainCar task."""

    force: float
    gravity: float


class MountainCarFamily(PhysicsFamily[MountainCarTask]):
    """The MetaMountainCar task family (see :class:`MetaMountainCarEnv`)."""

    name = "MetaMountainCar"
    version = 0
    task_class = MountainCarTask
    registered_horizon = 200
    registrations = (Registration("MetaMountainCar-v0", reward_threshold=-110.0),)
    parameters = (
        Parameter("force", 0.0009, 0.0013, 0.001, "engine power per step"),
        Parameter("gravity", 0.002, 0.0026, 0.0025, "gravity per step"),
    )

    def reference_return(self, horizon: int) -> float:
        return -110.0  # Gymnasium's reward threshold of MountainCar-v0

    def make_unwrapped(self, task: MountainCarTask) -> MetaTaskEnv:
        return MetaMountainCarEnv(task=task)


class MetaMountainCarEnv(PhysicsTaskEnv, MountainCarEnv):
    """
    ## Description
    Gymnasium's ``MountainCar-v0`` (drive an under-powered car up a hill by building
    momentum) with the engine power and gravity set per task. Dynamics, observations,
    rewards and rendering are Gymnasium's own.

    ## Action Space
    ``Discrete(3)``: accelerate left, don't accelerate, accelerate right.

    ## Observation Space
    | Space | Content |
    |-------|---------|
    | ``Box((2,), float32)`` | position in [-1.2, 0.6], velocity in [-0.07, 0.07] (as ``MountainCar-v0``) |

    ## Rewards
    ``-1`` per step.

    ## Starting State
    Position uniform in ``[-0.6, -0.4]``, velocity 0 (``options={"low", "high"}`` as in Gymnasium).

    ## Episode End
    - Termination: position >= 0.5 (the flag).
    - Truncation: 200 steps (registered time limit).

    ## Information
    Every ``reset`` and ``step`` returns these keys:

    - ``task_id``: id of the active task, ``None`` for explicit parameters
    - ``task_descriptor``: float32 array (a new copy each call), shape ``(2,)``, see below
    - ``is_success``: ``True`` on the step that reaches the flag

    ## Arguments
    ```python
    import gymnasium as gym
    import gym_metatasks
    env = gym.make("MetaMountainCar-v0", task_id=3)
    ```

    | Parameter | Type | Default | Description |
    |-----------|------|---------|-------------|
    | ``task_id`` | ``int`` | ``0`` | task of the family, in ``[0, 500)`` |
    | ``task`` | ``MountainCarTask`` or ``dict`` | ``None`` | explicit parameters instead of ``task_id`` (or a ``gym_metatasks.Task``, which keeps its id) |
    | ``render_mode`` | ``str`` | ``None`` | ``"rgb_array"`` or ``"human"`` (Gymnasium's renderer, needs pygame) |

    ## Task Descriptor
    Each parameter mapped linearly from its bounds to ``[0, 1]``; numbered tasks draw every
    parameter uniformly within its bounds (chosen so that pushing in the direction of the
    velocity reaches the flag within the time limit on every task).

    | Index | Name | Bounds | Gymnasium default | Meaning |
    |-------|------|--------|-------------------|---------|
    | 0 | ``force`` | [0.0009, 0.0013] | 0.001 | engine power per step |
    | 1 | ``gravity`` | [0.002, 0.0026] | 0.0025 | gravity per step |

    500 tasks: ids ``[0, 360)`` form the train split, ``[360, 400)`` the validation split
    and ``[400, 500)`` the test split.
    Reference return (``optimal_return``): -110, Gymnasium's reward threshold for
    ``MountainCar-v0``. Random return: measured over 100 episodes per task and stored.

    Explicit tasks may set any parameter in ``[low / 2, 1.5 high]`` (its valid range):
    beyond the bounds the task is an extrapolation and its descriptor leaves ``[0, 1]``
    (``descriptor_space`` covers the valid range). ``family.extrapolation_tasks()`` is the
    standard extrapolation set: each parameter at either end of its valid range, the others
    at their medians.

    ## Registered Configurations
    - ``MetaMountainCar-v0``: 200 steps, reward threshold -110

    ## Version History
    - v0: initial release.
    """

    family: MountainCarFamily
    success_is_termination = True
    _gymnasium_step = MountainCarEnv.step

    def __init__(
        self,
        task_id: Any = DEFAULT_TASK_ID,
        task: MountainCarTask | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        MountainCarEnv.__init__(self, render_mode=render_mode)
        self._init_task(shared_family(MountainCarFamily), task_id, task)

    def _apply_task(self, params: MountainCarTask) -> None:
        self.force = params.force
        self.gravity = params.gravity
