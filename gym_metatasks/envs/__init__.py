"""Task families, one file each."""

from gym_metatasks.envs.acrobot import AcrobotFamily, AcrobotTask, MetaAcrobotEnv
from gym_metatasks.envs.cartpole import CartPoleFamily, CartPoleTask, MetaCartPoleEnv
from gym_metatasks.envs.frozen_lake import FrozenLakeFamily, FrozenLakeTask, MetaFrozenLakeEnv
from gym_metatasks.envs.mountain_car import MetaMountainCarEnv, MountainCarFamily, MountainCarTask
from gym_metatasks.envs.nav import MetaNavEnv, NavFamily, NavTask
from gym_metatasks.envs.recommend import MetaRecommendEnv, RecommendFamily, RecommendTask

__all__ = [
    "AcrobotFamily",
    "AcrobotTask",
    "CartPoleFamily",
    "CartPoleTask",
    "FrozenLakeFamily",
    "FrozenLakeTask",
    "MetaAcrobotEnv",
    "MetaCartPoleEnv",
    "MetaFrozenLakeEnv",
    "MetaMountainCarEnv",
    "MetaNavEnv",
    "MetaRecommendEnv",
    "MountainCarFamily",
    "MountainCarTask",
    "NavFamily",
    "NavTask",
    "RecommendFamily",
    "RecommendTask",
]
