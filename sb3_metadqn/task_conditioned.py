"""The task-conditioned DQN under its first import path.

Kept because models written by ``TaskConditionedDQN.save`` (SB3 zips) name their features
extractor by this path, and ``sb3_metadqn.task_conditioned.pretrain`` was documented. New code
imports from :mod:`sb3_metadqn.agents.task_conditioned` and :mod:`sb3_metadqn.baselines`.
"""

from sb3_metadqn.agents.pretrained_qnet import read_pretrained
from sb3_metadqn.agents.task_conditioned import TaskConditionedDQN
from sb3_metadqn.baselines.task_conditioned_pretraining import pretrain
from sb3_metadqn.nets.task_embedding import TaskEmbeddingExtractor

__all__ = ["TaskConditionedDQN", "TaskEmbeddingExtractor", "pretrain", "read_pretrained"]
