"""The task-embedding features extractor of the task-conditioned DQN: the observation next
to a learned embedding of the task descriptor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from gym_metatasks.wrappers.observe_descriptor import DESCRIPTOR_KEY
from sb3_metadqn._checks import check_positive_int

#: The name artifacts record for the extractor class: its first module path, kept so that
#: pretrained artifacts written by any version read the same.
RECORDED_NAME = "sb3_metadqn.task_conditioned.TaskEmbeddingExtractor"


class TaskEmbeddingExtractor(BaseFeaturesExtractor):
    """Features of a ``Dict`` observation holding ``"task_descriptor"``: the flattened,
    preprocessed observation next to an embedding of the descriptor (linear by default, an
    MLP with ``embedding_net_arch``).

    Every key other than ``"task_descriptor"`` is part of the observation (``"observation"``
    for :class:`~gym_metatasks.ObserveDescriptor` ``mode="dict"``), flattened in sorted key
    order after SB3's preprocessing (``Discrete`` one-hot, images scaled).

    Features ``[obs, e(d)]`` have shape ``(batch, obs_dim + embedding_dim)``.

    :param observation_space: the ``Dict`` observation space
    :param embedding_dim: size of the descriptor embedding
    :param embedding_net_arch: hidden layers (ReLU) of the descriptor MLP (default none: a
        linear embedding, chosen on validation tasks, see :class:`TaskConditionedDQN`)
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        embedding_dim: int = 32,
        embedding_net_arch: Sequence[int] = (),
    ) -> None:
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(
                f"TaskEmbeddingExtractor needs a Dict observation space with a "
                f"{DESCRIPTOR_KEY!r} key, got {observation_space}; wrap the env with "
                f'gym_metatasks.ObserveDescriptor(env, mode="dict")'
            )
        if DESCRIPTOR_KEY not in observation_space.spaces:
            raise ValueError(
                f"the Dict observation space has no {DESCRIPTOR_KEY!r} key (keys: "
                f"{sorted(observation_space.spaces)}); wrap the env with "
                f'gym_metatasks.ObserveDescriptor(env, mode="dict")'
            )
        descriptor_space = observation_space.spaces[DESCRIPTOR_KEY]
        if not isinstance(descriptor_space, spaces.Box) or len(descriptor_space.shape) != 1:
            raise ValueError(f"{DESCRIPTOR_KEY!r} must be a 1-D Box space, got {descriptor_space}")
        observation_keys = sorted(k for k in observation_space.spaces if k != DESCRIPTOR_KEY)
        if not observation_keys:
            raise ValueError(
                f"the Dict observation space holds only {DESCRIPTOR_KEY!r}; it needs an "
                "observation key too (e.g. 'observation')"
            )
        check_positive_int(embedding_dim, "embedding_dim")
        hidden = [check_positive_int(h, "embedding_net_arch entries") for h in embedding_net_arch]
        obs_dim = sum(int(get_flattened_obs_dim(observation_space[k])) for k in observation_keys)
        super().__init__(observation_space, features_dim=obs_dim + embedding_dim)
        self.observation_keys = observation_keys
        self.embedding_dim = int(embedding_dim)
        self.embedding_net_arch = hidden
        layers: list[nn.Module] = []
        width = int(descriptor_space.shape[0])
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, embedding_dim))
        self.embedding = nn.Sequential(*layers)
        self.flatten = nn.Flatten()

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-ready."""
        return {
            "embedding_dim": self.embedding_dim,
            "embedding_net_arch": list(self.embedding_net_arch),
        }

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(batch, features_dim)`` features of a preprocessed observation batch."""
        obs = torch.cat([self.flatten(observations[k]) for k in self.observation_keys], dim=1)
        return torch.cat([obs, self.embedding(observations[DESCRIPTOR_KEY])], dim=1)


def recorded_name(obj: Any) -> str:
    """The name an artifact records for a class or function: ``module.qualname``, or
    :data:`RECORDED_NAME` for :class:`TaskEmbeddingExtractor`."""
    if obj is TaskEmbeddingExtractor:
        return RECORDED_NAME
    return f"{obj.__module__}.{obj.__qualname__}"
