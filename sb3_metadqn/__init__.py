"""MetaDQN: a Stable-Baselines3 DQN whose Q-network is initialized through a learned
mapping network from a bank of Q-networks trained on related tasks.

>>> import gym_metatasks
>>> from sb3_metadqn import MetaDQN
>>> family = gym_metatasks.family("MetaNav-v0")
>>> model = MetaDQN("MlpPolicy", family.make(800), seed=0)  # the embedded meta-learner
>>> model.meta_init["selection"], model.meta_init["source_task_id"]
('nearest', 454)
>>> family.split_of(model.meta_init["source_task_id"])
'train'
"""

import gym_metatasks  # noqa: F401  (registers the families MetaDQN's string envs name)
from sb3_metadqn._version import __version__
from sb3_metadqn.agents.metadqn import MetaDQN
from sb3_metadqn.agents.tabular_q import TabularQLearning
from sb3_metadqn.agents.task_conditioned import TaskConditionedDQN
from sb3_metadqn.agents.warm_start import WarmStartDQN
from sb3_metadqn.baselines.bank_initializers import NearestSource, SourceAverage
from sb3_metadqn.baselines.hypernetwork import HyperNetworkInit, hypernetwork_train
from sb3_metadqn.baselines.linucb import LinUCB
from sb3_metadqn.baselines.meta_tabular import MetaTabularQLearning
from sb3_metadqn.baselines.most_popular import MostPopular
from sb3_metadqn.baselines.reptile import ReptileInit, reptile_train
from sb3_metadqn.baselines.session_bandit import pretrain_bandit
from sb3_metadqn.baselines.table_bank import TableBank
from sb3_metadqn.core.initializer import Initializer
from sb3_metadqn.core.mapper_training import MapperTrainingConfig
from sb3_metadqn.core.meta_config import MetaTrainConfig
from sb3_metadqn.core.meta_learner import MetaLearner
from sb3_metadqn.core.meta_training import meta_train
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets.mapping import MapperConfig, MappingNetwork

__all__ = [
    "ArtifactError",
    "HyperNetworkInit",
    "Initializer",
    "LinUCB",
    "MapperConfig",
    "MapperTrainingConfig",
    "MappingNetwork",
    "MetaDQN",
    "MetaLearner",
    "MetaTabularQLearning",
    "MetaTrainConfig",
    "MostPopular",
    "NearestSource",
    "ReptileInit",
    "SourceAverage",
    "TableBank",
    "TabularQLearning",
    "TaskConditionedDQN",
    "WarmStartDQN",
    "__version__",
    "hypernetwork_train",
    "meta_train",
    "pretrain_bandit",
    "reptile_train",
]
