"""The meta-learner: a source bank and the mapping network that adapts its sources.

``MetaLearner.initial_parameters(d_i)`` is what :class:`~sb3_metadqn.MetaDQN` calls: pick a
source j (nearest descriptor, or best of the k nearest by TD error on probe transitions,
with the shared initialization as fallback; :meth:`SourceBank.select`) and return
theta_i' = W_ij theta_j with a record of the choice. A meta-learner is saved as one
safetensors artifact (see :mod:`sb3_metadqn.io.artifacts`) and validated against the env it
is used with.
"""

from __future__ import annotations

from typing import Any

import torch

from sb3_metadqn.core.initializer import Initializer, Record
from sb3_metadqn.core.source_bank import SourceBank, td_error
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.mapping import MapperConfig, MappingNetwork


class MetaLearner(Initializer):
    """A bank of source Q-networks and the mapping network that adapts them to a new task.

    :param env_id: the registered family id the sources were trained on
    :param family_key: the family's name, version and configuration (``TaskFamily.key``)
    :param descriptor_names: names of the descriptor entries
    :param observation_space: description (:func:`~sb3_metadqn.io.spaces.describe_space`) of
        the observation space
    :param action_space: description of the action space
    :param arch: the Q-network architecture
    :param mapper: the mapping network
    :param bank: the source bank (sources must be train-split tasks of ``env_id``)
    :param training: the meta-training configuration and cost
    """

    kind = "meta-learner"
    selects_by_probe = True

    def __init__(
        self,
        *,
        env_id: str,
        family_key: str,
        descriptor_names: list[str],
        observation_space: dict[str, Any],
        action_space: dict[str, Any],
        arch: qnet.Architecture,
        mapper: MappingNetwork,
        bank: SourceBank,
        training: dict[str, Any],
    ) -> None:
        super().__init__(
            env_id=env_id,
            family_key=family_key,
            descriptor_names=descriptor_names,
            observation_space=observation_space,
            action_space=action_space,
            arch=arch,
            training=training,
        )
        self.mapper = mapper.eval()
        bank.check_train_tasks(env_id)
        self.bank = bank

    # ------------------------------------------------------------------ the bank
    @property
    def num_sources(self) -> int:
        return len(self.bank)

    @property
    def source_task_ids(self) -> list[int]:
        return self.bank.task_ids

    @property
    def source_descriptors(self) -> torch.Tensor:
        """``(T, D)`` descriptors of the sources."""
        return self.bank.descriptors

    @property
    def source_layers(self) -> qnet.Layers:
        return self.bank.layers

    @property
    def source_provenance(self) -> list[dict[str, Any]]:
        return self.bank.provenance

    @property
    def shared_init(self) -> qnet.Layers:
        return self.bank.shared_init

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(env_id={self.env_id!r}, sources={self.num_sources}, "
            f"net_arch={list(self.arch.net_arch)}, mapper_rank={self.mapper.config.rank})"
        )

    def nearest(self, descriptor: Any, k: int = 1) -> tuple[list[int], list[float]]:
        """Indices of the ``k`` nearest sources and their Euclidean descriptor distances."""
        return self.bank.nearest(self.check_descriptor(descriptor), k)

    # ------------------------------------------------------------------ what it does
    @torch.no_grad()
    def map_source(self, descriptor: Any, source_index: int) -> qnet.Layers:
        """theta_i' = W_ij theta_j for source ``source_index`` (unbatched layers)."""
        d = self.check_descriptor(descriptor).unsqueeze(0)
        j = torch.tensor([source_index])
        mapped = self.mapper(d, self.bank.descriptors[j], qnet.index(self.bank.layers, j))
        return [(w[0].clone(), b[0].clone()) for w, b in mapped]

    def td_error(
        self, layers: qnet.Layers, transitions: dict[str, torch.Tensor], gamma: float
    ) -> float:
        """Mean squared one-step TD error of a network on transitions (its own max as target)."""
        return td_error(layers, transitions, gamma, self.arch.activation_module())

    def initial_parameters(
        self,
        descriptor: Any,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, dict[str, Any]]:
        """theta_i' for a task, and the record of how it was chosen.

        :param descriptor: the target task's descriptor d_i
        :param candidates: how many nearest sources to consider
        :param transitions: probe transitions of the target task (flattened ``obs``,
            ``action``, ``reward``, ``next_obs``, ``terminated``); with them the candidate
            with the lowest TD error wins, and the shared initialization when it beats all
        """
        return self.bank.select(
            self.check_descriptor(descriptor),
            lambda j: self.map_source(descriptor, j),
            self.arch.activation_module(),
            candidates=candidates,
            transitions=transitions,
            gamma=gamma,
        )

    def candidate_starts(self, descriptor: Any, k: int) -> list[tuple[qnet.Layers, Record]]:
        """The ``k`` nearest sources mapped to the task, nearest first, with their records."""
        d = self.check_descriptor(descriptor)
        return self.bank.candidates(d, lambda j: self.map_source(descriptor, j), k)

    # ------------------------------------------------------------------ persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        out = self.bank.tensors()
        for name, value in self.mapper.state_dict().items():
            out[f"mapper.{name}"] = value
        return out

    def document(self) -> dict[str, Any]:
        return {
            **super().document(),
            "mapper": self.mapper.config.to_dict(),
            **self.bank.document(),
        }

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> MetaLearner:
        fields = cls.common_fields(tensors, document, origin)
        artifacts.require(document, ["mapper", "source_task_ids", "source_provenance"], origin)
        arch: qnet.Architecture = fields["arch"]
        try:
            config = MapperConfig.from_dict(document["mapper"])
            mapper = MappingNetwork(arch, len(document["descriptor_names"]), config)
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{origin} has an invalid mapper: {error}") from error
        names = SourceBank.tensor_names(arch) + [f"mapper.{n}" for n in mapper.state_dict()]
        artifacts.require(tensors, names, origin)
        unexpected = sorted(set(tensors) - set(names))
        if unexpected:
            raise ArtifactError(f"{origin} has unexpected tensors {unexpected[:5]}")
        try:
            mapper.load_state_dict(
                {n[len("mapper.") :]: t for n, t in tensors.items() if n.startswith("mapper.")}
            )
        except RuntimeError as error:
            raise ArtifactError(
                f"{origin}: mapper weights do not fit its configuration: {error}"
            ) from error
        bank = SourceBank.from_parts(
            tensors, document, origin, arch, len(document["descriptor_names"])
        )
        return cls(**fields, mapper=mapper, bank=bank)

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        return {
            **super().info(),
            "sources": self.num_sources,
            "source_methods": sorted({p.get("method", "?") for p in self.bank.provenance}),
            "planner": self.mapper.planner is not None,
            "mapper_selection": self.training.get("mapper_selection"),
            "mapper": self.mapper.config.to_dict(),
            "mapper_parameters": sum(p.numel() for p in self.mapper.parameters()),
        }
