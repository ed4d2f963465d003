"""Registered configurations of every family, and the lookup from an env id to its
family object."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from gym_metatasks.envs.acrobot import AcrobotFamily
from gym_metatasks.envs.cartpole import CartPoleFamily
from gym_metatasks.envs.frozen_lake import FrozenLakeFamily
from gym_metatasks.envs.mountain_car import MountainCarFamily
from gym_metatasks.envs.nav import NavFamily
from gym_metatasks.family import TaskFamily

ENTRY_POINTS: dict[type[TaskFamily[Any]], str] = {
    NavFamily: "gym_metatasks.envs.nav:MetaNavEnv",
    FrozenLakeFamily: "gym_metatasks.envs.frozen_lake:MetaFrozenLakeEnv",
    CartPoleFamily: "gym_metatasks.envs.cartpole:MetaCartPoleEnv",
    AcrobotFamily: "gym_metatasks.envs.acrobot:MetaAcrobotEnv",
    MountainCarFamily: "gym_metatasks.envs.mountain_car:MetaMountainCarEnv",
}


@dataclass(frozen=True)
class Registration:
    """One registered configuration of a family."""

    env_id: str
    family_class: type[TaskFamily[Any]]
    config: dict[str, Any] = field(default_factory=dict)
    reward_threshold: float | None = None

    @property
    def max_episode_steps(self) -> int:
        return self.family_class(**self.config).default_horizon()


REGISTRATIONS: tuple[Registration, ...] = (
    Registration("MetaNav-v0", NavFamily, {"size": 8}),
    Registration("MetaNav5x5-v0", NavFamily, {"size": 5}),
    Registration("MetaNav12x12-v0", NavFamily, {"size": 12}),
    Registration("MetaFrozenLake-v0", FrozenLakeFamily, {"size": 8}),
    Registration("MetaFrozenLake4x4-v0", FrozenLakeFamily, {"size": 4}),
    Registration("MetaCartPole-v0", CartPoleFamily, reward_threshold=475.0),
    Registration("MetaAcrobot-v0", AcrobotFamily, reward_threshold=-100.0),
    Registration("MetaMountainCar-v0", MountainCarFamily, reward_threshold=-110.0),
)


def register_envs() -> None:
    """Register every configuration with Gymnasium (idempotent)."""
    for registration in REGISTRATIONS:
        if registration.env_id in gym.registry:
            continue
        gym.register(
            id=registration.env_id,
            entry_point=ENTRY_POINTS[registration.family_class],
            kwargs=dict(registration.config),
            max_episode_steps=registration.max_episode_steps,
            reward_threshold=registration.reward_threshold,
        )


def families() -> list[str]:
    """Ids of every registered family configuration."""
    return [registration.env_id for registration in REGISTRATIONS]


def family(env_id: str, **config: Any) -> TaskFamily[Any]:
    """The family object of a registered id (``"MetaNav-v0"`` or
    ``"gym_metatasks:MetaNav-v0"``), optionally with configuration overrides such as
    ``size=5``. Its ``horizon`` is the id's ``max_episode_steps``.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a str, got {env_id!r}")
    bare_id = env_id.split(":", 1)[-1]
    try:
        spec = gym.spec(bare_id)
    except gym.error.Error as error:
        raise ValueError(
            f"env_id {env_id!r} is not registered; gym_metatasks families: {families()}"
        ) from error
    family_classes = {point: cls for cls, point in ENTRY_POINTS.items()}
    family_class = family_classes.get(str(spec.entry_point))
    if family_class is None:
        raise ValueError(
            f"env_id {env_id!r} is not a gym_metatasks family; known families: {families()}"
        )
    accepted = inspect.signature(family_class.__init__).parameters
    registered = {k: v for k, v in spec.kwargs.items() if k in accepted and k != "horizon"}
    merged = {**registered, **config}
    return _family(family_class, bare_id, spec.max_episode_steps, tuple(sorted(merged.items())))


@functools.cache
def _family(
    family_class: type[TaskFamily[Any]],
    env_id: str,
    horizon: int | None,
    config: tuple[tuple[str, Any], ...],
) -> TaskFamily[Any]:
    return family_class(**dict(config), horizon=horizon, env_id=env_id)
