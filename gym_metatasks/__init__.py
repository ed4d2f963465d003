"""Parameterized task families for Gymnasium 1.x.

``import gym_metatasks`` registers every family; ``gym.make("gym_metatasks:MetaNav-v0")``
does so without the import. ``gym_metatasks.family("MetaNav-v0")`` gives the family API
(task ids, descriptors, splits, sampling, oracle returns) without building an env;
``gym_metatasks.benchmark("MetaNav-v0")`` its splits as task objects.
"""

from gym_metatasks.benchmark import Benchmark, benchmark
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
from gym_metatasks.task import Task
from gym_metatasks.vector import set_tasks
from gym_metatasks.wrappers import ForwardTaskAttributes, ObserveDescriptor, ResampleTask

__version__ = "0.1.0"

register_envs()

__all__ = [
    "AcrobotTask",
    "Benchmark",
    "CartPoleTask",
    "ForwardTaskAttributes",
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
    "Task",
    "TaskFamily",
    "__version__",
    "benchmark",
    "families",
    "family",
    "register_envs",
    "set_tasks",
]
