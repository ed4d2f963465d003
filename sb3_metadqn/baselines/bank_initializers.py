"""Baselines on a meta-learner's source bank without its mapping network.

- :class:`NearestSource`: fine-tune from the nearest source as it is (the identity map), or
  with ``meta_candidates``/``meta_probe_steps`` the best of the k nearest by TD error;
- :class:`SourceAverage`: the mean of the k nearest sources' weights (meaningful because
  every source starts from one shared initialization).

Both read the same bank as MetaDQN, so a comparison isolates what the mapper adds.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from sb3_metadqn.core.meta_learner import MetaLearner
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets import qnet


def _identity_bank(learner: MetaLearner) -> dict[str, Any]:
    """The learner's bank arguments with a copy of its mapper reset to the identity."""
    mapper = copy.deepcopy(learner.mapper)
    mapper.reset_to_identity()
    return {**learner.bank_arguments(), "mapper": mapper}


class NearestSource(MetaLearner):
    """Fine-tuning from the nearest source: theta_i' = theta_j, no mapper.

    Build one from a meta-learner with ``NearestSource.of(learner)``; its artifact is the
    learner's bank with an identity mapper.
    """

    kind = "nearest-source"

    @classmethod
    def of(cls, learner: MetaLearner) -> NearestSource:
        """The nearest-source baseline on ``learner``'s bank."""
        return cls(**_identity_bank(learner))

    @torch.no_grad()
    def map_source(self, descriptor: Any, source_index: int) -> qnet.Layers:
        """The source's own parameters (the descriptor is only checked)."""
        self.check_descriptor(descriptor)
        return [(w[source_index].clone(), b[source_index].clone()) for w, b in self.source_layers]


class SourceAverage(MetaLearner):
    """The mean of the ``k`` nearest sources' weights: theta_i' = (1/k) sum_j theta_j.

    :param k: how many nearest sources to average (at most the bank size)
    :param bank: the constructor arguments of :class:`MetaLearner`
    """

    kind = "source-average"
    selects_by_probe = False

    def __init__(self, *, k: int = 5, **bank: Any) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        super().__init__(**bank)
        if k > self.num_sources:
            raise ValueError(f"k must be <= the bank's {self.num_sources} sources, got {k}")
        self.k = k

    @classmethod
    def of(cls, learner: MetaLearner, k: int = 5) -> SourceAverage:
        """The k-nearest average on ``learner``'s bank."""
        return cls(k=k, **_identity_bank(learner))

    def initial_parameters(
        self,
        descriptor: Any,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, dict[str, Any]]:
        """The mean of the ``k`` nearest sources (``candidates``/``transitions`` unused)."""
        indices, distances = self.nearest(descriptor, self.k)
        chosen = torch.tensor(indices)
        layers = [(w[chosen].mean(0), b[chosen].mean(0)) for w, b in self.source_layers]
        record = {
            "selection": f"average of {len(indices)} nearest",
            "source_task_ids": [self.source_task_ids[j] for j in indices],
            "descriptor_distance": distances[0],
            "mean_descriptor_distance": float(sum(distances) / len(distances)),
        }
        return layers, record

    def document(self) -> dict[str, Any]:
        return {**super().document(), "k": self.k}

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], source: str
    ) -> SourceAverage:
        artifacts.require(document, ["k"], source)
        try:
            return cls(k=document["k"], **cls.bank_fields(tensors, document, source))
        except ValueError as error:
            raise ArtifactError(f"{source}: {error}") from error

    def info(self) -> dict[str, Any]:
        return {**super().info(), "k": self.k}
