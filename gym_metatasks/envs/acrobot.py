"""MetaAcrobot: Gymnasium's Acrobot with task-specific links and torque."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gymnasium.envs.classic_control.acrobot import AcrobotEnv

from gym_metatasks.envs.physics import Parameter, PhysicsFamily, PhysicsTaskEnv
from gym_metatasks.family import Registration, shared_family
from gym_metatasks.meta_env import DEFAULT_TASK_ID, MetaTaskEnv


@dataclass(frozen=True)
class AcrobotTask:
    """Physics of one MetaAcrobot task."""

    link_length_1: float
    link_mass_1: float
    link_mass_2: float
    link_com_pos_1: float
    link_com_pos_2: float
    link_moi: float
    max_torque: float


class AcrobotFamily(PhysicsFamily[AcrobotTask]):
    """The MetaAcrobot task family (see :class:`MetaAcrobotEnv`)."""

    name = "MetaAcrobot"
    version = 0
    task_class = AcrobotTask
    registered_horizon = 500
    registrations = (Registration("MetaAcrobot-v0", reward_threshold=-100.0),)
    random_return_episodes = 20
    parameters = (
        Parameter("link_length_1", 0.75, 1.25, 1.0, "length of the first link (m)"),
        Parameter("link_mass_1", 0.75, 1.25, 1.0, "mass of the first link (kg)"),
        Parameter("link_mass_2", 0.75, 1.25, 1.0, "mass of the second link (kg)"),
        Parameter("link_com_pos_1", 0.4, 0.6, 0.5, "centre of mass of link 1 (m from its pivot)"),
        Parameter("link_com_pos_2", 0.4, 0.6, 0.5, "centre of mass of link 2 (m from its pivot)"),
        Parameter("link_moi", 0.75, 1.25, 1.0, "moment of inertia of each link (kg m^2)"),
        Parameter("max_torque", 0.8, 1.2, 1.0, "torque of actions 0 and 2 (N m)"),
    )

    def reference_return(self, horizon: int) -> float:
        return -100.0  # Gymnasium's reward threshold of Acrobot-v1

    def make_unwrapped(self, task: AcrobotTask) -> MetaTaskEnv:
        return MetaAcrobotEnv(task=task)


class MetaAcrobotEnv(PhysicsTaskEnv, AcrobotEnv):
    """
    ## Description
    Gymnasium's ``Acrobot-v1`` (swing the tip of a two-link chain above a line by
    torquing the joint between the links) with the links' length, masses, centres of mass,
    inertia and the available torque set per task. Dynamics, observations, rewards and
    rendering are Gymnasium's own.

    ## Action Space
    ``Discrete(3)``: torque ``-max_torque``, 0 or ``+max_torque`` on the actuated joint.

    ## Observation Space
    | Space | Content |
    |-------|---------|
    | ``Box((6,), float32)`` | cos/sin of both joint angles and both angular velocities (as ``Acrobot-v1``) |

    ## Rewards
    ``-1`` per step that does not reach the goal, ``0`` on the step that does.

    ## Starting State
    Every state variable uniform in ``[-0.1, 0.1]`` (``options={"low", "high"}`` as in Gymnasium).

    ## Episode End
    - Termination: ``-cos(theta1) - cos(theta2 + theta1) > 1`` (the tip is above the line).
    - Truncation: 500 steps (registered time limit).

    ## Information
    Every ``reset`` and ``step`` returns these keys:

    - ``task_id``: id of the active task, ``None`` for explicit parameters
    - ``task_descriptor``: float32 array (a new copy each call), shape ``(7,)``, see below
    - ``is_success``: ``True`` on the step that reaches the goal

    ## Arguments
    ```python
    import gymnasium as gym
    import gym_metatasks
    env = gym.make("MetaAcrobot-v0", task_id=3)
    ```

    | Parameter | Type | Default | Description |
    |-----------|------|---------|-------------|
    | ``task_id`` | ``int`` | ``0`` | task of the family, in ``[0, 500)`` |
    | ``task`` | ``AcrobotTask`` or ``dict`` | ``None`` | explicit parameters instead of ``task_id`` (or a ``gym_metatasks.Task``, which keeps its id) |
    | ``render_mode`` | ``str`` | ``None`` | ``"rgb_array"`` or ``"human"`` (Gymnasium's renderer, needs pygame) |

    ## Task Descriptor
    Each parameter mapped linearly from its bounds to ``[0, 1]``; numbered tasks draw every
    parameter uniformly within its bounds.

    | Index | Name | Bounds | Gymnasium default | Meaning |
    |-------|------|--------|-------------------|---------|
    | 0 | ``link_length_1`` | [0.75, 1.25] | 1.0 | length of the first link (m) |
    | 1 | ``link_mass_1`` | [0.75, 1.25] | 1.0 | mass of the first link (kg) |
    | 2 | ``link_mass_2`` | [0.75, 1.25] | 1.0 | mass of the second link (kg) |
    | 3 | ``link_com_pos_1`` | [0.4, 0.6] | 0.5 | centre of mass of link 1 (m from its pivot) |
    | 4 | ``link_com_pos_2`` | [0.4, 0.6] | 0.5 | centre of mass of link 2 (m from its pivot) |
    | 5 | ``link_moi`` | [0.75, 1.25] | 1.0 | moment of inertia of each link (kg m^2) |
    | 6 | ``max_torque`` | [0.8, 1.2] | 1.0 | torque of actions 0 and 2 (N m) |

    500 tasks: ids ``[0, 360)`` form the train split, ``[360, 400)`` the validation split
    and ``[400, 500)`` the test split.
    Reference return (``optimal_return``): -100, Gymnasium's reward threshold for
    ``Acrobot-v1``. Random return: measured over 20 episodes per task and stored.

    Explicit tasks may set any parameter in ``[low / 2, 1.5 high]`` (its valid range):
    beyond the bounds the task is an extrapolation and its descriptor leaves ``[0, 1]``
    (``descriptor_space`` covers the valid range). ``family.extrapolation_tasks()`` is the
    standard extrapolation set: each parameter at either end of its valid range, the others
    at their medians.

    ## Registered Configurations
    - ``MetaAcrobot-v0``: 500 steps, reward threshold -100

    ## Version History
    - v0: initial release.
    """

    family: AcrobotFamily
    success_is_termination = True
    _gymnasium_step = AcrobotEnv.step

    def __init__(
        self,
        task_id: Any = DEFAULT_TASK_ID,
        task: AcrobotTask | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        AcrobotEnv.__init__(self, render_mode=render_mode)
        self._init_task(shared_family(AcrobotFamily), task_id, task)

    def _apply_task(self, params: AcrobotTask) -> None:
        # Instance attributes shadow AcrobotEnv's class-level constants.
        self.LINK_LENGTH_1 = params.link_length_1
        self.LINK_MASS_1 = params.link_mass_1
        self.LINK_MASS_2 = params.link_mass_2
        self.LINK_COM_POS_1 = params.link_com_pos_1
        self.LINK_COM_POS_2 = params.link_com_pos_2
        self.LINK_MOI = params.link_moi
        self.AVAIL_TORQUE = [-params.max_torque, 0.0, params.max_torque]
