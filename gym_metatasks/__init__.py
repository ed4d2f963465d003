"""Parameterized task families for Gymnasium 1.x.

``import gym_metatasks`` registers every family; ``gym.make("gym_metatasks:MetaNav-v0")``
does so without the import. ``gym_metatasks.family("MetaNav-v0")`` gives the family API
(task ids, descriptors, splits, sampling, oracle returns) without building an env.
"""

from gym_metatasks.envs import (
    AcrobotTask,
    CartPoleTask,
    FrozenLakeTask,
    MetaAcrobotEnv,
    MetaCartPoleEnv,
    MetaFrozenLakeEnv,
    MetaMountainCarEnv,
    MetaNavEnv,
    MetaRecommendEnv,
    MountainCarTask,
    NavTask,
    RecommendTask,
)
from gym_metatasks.family import TaskFamily
from gym_metatasks.meta_env import MetaTaskEnv
from gym_metatasks.registration import families, family, register_envs
from gym_metatasks.wrappers import ObserveDescriptor, ResampleTask

__version__ = "0.1.0"

register_envs()

__all__ = [
    "AcrobotTask",
    "CartPoleTask",
    "FrozenLakeTask",
    "MetaAcrobotEnv",
    "MetaCartPoleEnv",
    "MetaFrozenLakeEnv",
    "MetaMountainCarEnv",
    "MetaNavEnv",
    "MetaRecommendEnv",
    "MetaTaskEnv",
    "MountainCarTask",
    "NavTask",
    "ObserveDescriptor",
    "RecommendTask",
    "ResampleTask",
    "TaskFamily",
    "__version__",
    "families",
    "family",
    "register_envs",
]
