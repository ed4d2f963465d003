"""Registration of every family's ids with Gymnasium, and the lookup from an env id to its
family object."""

from __future__ import annotations

import inspect
from typing import Any

import gymnasium as gym

from gym_metatasks.envs.acrobot import AcrobotFamily
from gym_metatasks.envs.cartpole import CartPoleFamily
from gym_metatasks.envs.frozen_lake import FrozenLakeFamily
from gym_metatasks.envs.mountain_car import MountainCarFamily
from gym_metatasks.envs.nav import NavFamily
from gym_metatasks.envs.recommend import RecommendFamily
from gym_metatasks.family import Registration, TaskFamily, shared_family

ENTRY_POINTS: dict[type[TaskFamily[Any]], str] = {
    NavFamily: "gym_metatasks.envs.nav:MetaNavEnv",
    FrozenLakeFamily: "gym_metatasks.envs.frozen_lake:MetaFrozenLakeEnv",
    CartPoleFamily: "gym_metatasks.envs.cartpole:MetaCartPoleEnv",
    AcrobotFamily: "gym_metatasks.envs.acrobot:MetaAcrobotEnv",
    MountainCarFamily: "gym_metatasks.envs.mountain_car:MetaMountainCarEnv",
    RecommendFamily: "gym_metatasks.envs.recommend:MetaRecommendEnv",
}


def registrations() -> list[tuple[type[TaskFamily[Any]], Registration]]:
    """Every family class with each of its :attr:`~TaskFamily.registrations`, in order."""
    return [(cls, registration) for cls in ENTRY_POINTS for registration in cls.registrations]


def register_envs() -> None:
    """Register every configuration with Gymnasium (idempotent).

    Gymnasium's passive env checker is off by default (``gym.make(..., disable_env_checker=
    False)`` turns it on): it breaks every later ``step`` of an env whose first ``reset``
    raised, and ours refuse bad reset options. The tests run Gymnasium's and SB3's full
    ``check_env`` on every family instead.
    """
    for family_class, registration in registrations():
        if registration.env_id in gym.registry:
            continue
        gym.register(
            id=registration.env_id,
            entry_point=ENTRY_POINTS[family_class],
            kwargs=dict(registration.config),
            max_episode_steps=family_class(**registration.config).default_horizon(),
            reward_threshold=registration.reward_threshold,
            disable_env_checker=True,
        )


def families() -> list[str]:
    """Ids of every registered family configuration."""
    return [registration.env_id for _, registration in registrations()]


def family(env_id: str, **config: Any) -> TaskFamily[Any]:
    """The family object of a registered id (``"MetaNav-v0"`` or
    ``"gym_metatasks:MetaNav-v0"``), optionally with configuration overrides such as
    ``size=5``. Its ``horizon`` is the id's ``max_episode_steps`` unless ``horizon=`` is
    given. Without overrides it is the object ``gym.make(env_id).unwrapped.family`` holds.
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
    registered = {
        k: v for k, v in spec.kwargs.items() if k in accepted and k not in ("horizon", "env_id")
    }
    horizon = config.pop("horizon", spec.max_episode_steps)
    merged = {**registered, **config}
    return shared_family(family_class, horizon=horizon, env_id=bare_id, **merged)
