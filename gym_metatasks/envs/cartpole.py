"""MetaCartPole: Gymnasium's CartPole with task-specific physics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from gym_metatasks.envs.physics import Parameter, PhysicsFamily, PhysicsTaskEnv
from gym_metatasks.family import Registration, shared_family
from gym_metatasks.meta_env import DEFAULT_TASK_ID, MetaTaskEnv


@dataclass(frozen=True)
class CartPoleTask:
    """Physics of one MetaCartPole task (Gymnasium's attribute names and units)."""

    gravity: float
    masscart: float
    masspole: float
    length: float
    force_mag: float


class CartPoleFamily(PhysicsFamily[CartPoleTask]):
    """The MetaCartPole task family (see :class:`MetaCartPoleEnv`)."""

    name = "MetaCartPole"
    version = 0
    task_class = CartPoleTask
    registered_horizon = 500
    registrations = (Registration("MetaCartPole-v0", reward_threshold=475.0),)
    parameters = (
        Parameter("gravity", 4.9, 14.7, 9.8, "gravitational acceleration (m/s^2)"),
        Parameter("masscart", 0.5, 2.0, 1.0, "mass of the cart (kg)"),
        Parameter("masspole", 0.05, 0.5, 0.1, "mass of the pole (kg)"),
        Parameter("length", 0.25, 1.0, 0.5, "half the pole's length (m)"),
        Parameter("force_mag", 5.0, 15.0, 10.0, "force of a push (N)"),
    )

    def reference_return(self, horizon: int) -> float:
        return float(horizon)  # +1 per step: balancing for the whole episode

    def make_unwrapped(self, task: CartPoleTask) -> MetaTaskEnv:
        return MetaCartPoleEnv(task=task)


class MetaCartPoleEnv(PhysicsTaskEnv, CartPoleEnv):
    """
    ## Description
    Gymnasium's ``CartPole-v1`` (balance a pole on a cart by pushing the cart left or
    right) with the physics set per task: gravity, cart and pole masses, pole length and
    push force. Dynamics, observations, rewards and rendering are Gymnasium's own.

    ## Action Space
    ``Discrete(2)``: 0 push left, 1 push right, with the task's ``force_mag``.

    ## Observation Space
    | Space | Content |
    |-------|---------|
    | ``Box((4,), float32)`` | cart position, cart velocity, pole angle, pole angular velocity (as ``CartPole-v1``) |

    ## Rewards
    ``+1`` per step, including the terminating one (as ``CartPole-v1``).

    ## Starting State
    Every state variable uniform in ``[-0.05, 0.05]`` (``reset(options={"low": ..., "high": ...})``
    changes the range, as in Gymnasium).

    ## Episode End
    - Termination: pole angle beyond +-12 degrees or cart position beyond +-2.4.
    - Truncation: 500 steps (registered time limit).

    ## Information
    Every ``reset`` and ``step`` returns these keys:

    - ``task_id``: id of the active task, ``None`` for explicit parameters
    - ``task_descriptor``: float32 array (a new copy each call), shape ``(5,)``, see below
    - ``is_success``: ``True`` while the pole is up (so ``True`` at a time-limit truncation)

    ## Arguments
    ```python
    import gymnasium as gym
    import gym_metatasks
    env = gym.make("MetaCartPole-v0", task_id=3)
    ```

    | Parameter | Type | Default | Description |
    |-----------|------|---------|-------------|
    | ``task_id`` | ``int`` | ``0`` | task of the family, in ``[0, 500)`` |
    | ``task`` | ``CartPoleTask`` or ``dict`` | ``None`` | explicit parameters instead of ``task_id`` (or a ``gym_metatasks.Task``, which keeps its id) |
    | ``render_mode`` | ``str`` | ``None`` | ``"rgb_array"`` or ``"human"`` (Gymnasium's renderer, needs pygame) |

    ## Task Descriptor
    Each parameter mapped linearly from its bounds to ``[0, 1]``; numbered tasks draw every
    parameter uniformly within its bounds.

    | Index | Name | Bounds | Gymnasium default | Meaning |
    |-------|------|--------|-------------------|---------|
    | 0 | ``gravity`` | [4.9, 14.7] | 9.8 | gravitational acceleration (m/s^2) |
    | 1 | ``masscart`` | [0.5, 2.0] | 1.0 | mass of the cart (kg) |
    | 2 | ``masspole`` | [0.05, 0.5] | 0.1 | mass of the pole (kg) |
    | 3 | ``length`` | [0.25, 1.0] | 0.5 | half the pole's length (m) |
    | 4 | ``force_mag`` | [5.0, 15.0] | 10.0 | force of a push (N) |

    500 tasks: ids ``[0, 360)`` form the train split, ``[360, 400)`` the validation split
    and ``[400, 500)`` the test split.
    Reference return (``optimal_return``): 500, the time limit. Random return: measured
    over 100 episodes per task and stored with the package.

    Explicit tasks may set any parameter in ``[low / 2, 1.5 high]`` (its valid range):
    beyond the bounds the task is an extrapolation and its descriptor leaves ``[0, 1]``
    (``descriptor_space`` covers the valid range). ``family.extrapolation_tasks()`` is the
    standard extrapolation set: each parameter at either end of its valid range, the others
    at their medians.

    ## Registered Configurations
    - ``MetaCartPole-v0``: 500 steps, reward threshold 475

    ## Version History
    - v0: initial release.
    """

    family: CartPoleFamily
    success_is_termination = False
    _gymnasium_step = CartPoleEnv.step

    def __init__(
        self,
        task_id: Any = DEFAULT_TASK_ID,
        task: CartPoleTask | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        CartPoleEnv.__init__(self, render_mode=render_mode)
        self._init_task(shared_family(CartPoleFamily), task_id, task)

    def _apply_task(self, params: CartPoleTask) -> None:
        self.gravity = params.gravity
        self.masscart = params.masscart
        self.masspole = params.masspole
        self.length = params.length
        self.force_mag = params.force_mag
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length
