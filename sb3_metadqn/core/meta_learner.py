"""The meta-learner: a source bank, its shared initialization and the mapping network.

``MetaLearner.initial_parameters(d_i)`` is what :class:`~sb3_metadqn.MetaDQN` calls: pick a
source j (nearest descriptor, or best of the k nearest by TD error on probe transitions,
with the shared initialization as fallback) and return theta_i' = W_ij theta_j with a record
of the choice. A meta-learner is saved as one safetensors artifact (see
:mod:`sb3_metadqn.io.artifacts`) and validated against the env it is used with.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

import gym_metatasks
from sb3_metadqn.core.initializer import Initializer, check_train_tasks
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.mapping import MapperConfig, MappingNetwork

LearnerT = TypeVar("LearnerT", bound="MetaLearner")


class MetaLearner(Initializer):
    """A bank of source Q-networks and the mapping network that adapts them to a new task.

    :param env_id: the registered family id the sources were trained on
    :param family_key: the family's name, version and configuration (``TaskFamily.key``)
    :param descriptor_names: names of the descriptor entries
    :param observation_space: description (:func:`~sb3_metadqn.io.spaces.describe_space`) of the observation space
    :param action_space: description of the action space
    :param arch: the Q-network architecture
    :param mapper: the mapping network
    :param shared_init: the initialization every source started from
    :param source_task_ids: task id of each source (train-split tasks of ``env_id``)
    :param source_descriptors: ``(T, D)`` descriptors
    :param source_layers: batched source parameters
    :param source_provenance: per source, how it was trained
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
        shared_init: qnet.Layers,
        source_task_ids: list[int],
        source_descriptors: torch.Tensor,
        source_layers: qnet.Layers,
        source_provenance: list[dict[str, Any]],
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
        self.shared_init = shared_init
        self.source_task_ids = list(source_task_ids)
        self.source_descriptors = source_descriptors.float()
        self.source_layers = source_layers
        self.source_provenance = source_provenance
        if env_id in gym_metatasks.families():
            check_train_tasks(gym_metatasks.family(env_id), self.source_task_ids, "source_task_ids")

    # ------------------------------------------------------------------ queries
    @property
    def num_sources(self) -> int:
        return len(self.source_task_ids)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(env_id={self.env_id!r}, sources={self.num_sources}, "
            f"net_arch={list(self.arch.net_arch)}, mapper_rank={self.mapper.config.rank})"
        )

    def nearest(self, descriptor: Any, k: int = 1) -> tuple[list[int], list[float]]:
        """Indices of the ``k`` nearest sources and their Euclidean descriptor distances."""
        d = self.check_descriptor(descriptor)
        distance = torch.linalg.vector_norm(self.source_descriptors - d, dim=1)
        k = max(1, min(k, self.num_sources))
        values, indices = distance.topk(k, largest=False)
        return indices.tolist(), values.tolist()

    @torch.no_grad()
    def map_source(self, descriptor: Any, source_index: int) -> qnet.Layers:
        """theta_i' = W_ij theta_j for source ``source_index`` (unbatched layers)."""
        d = self.check_descriptor(descriptor).unsqueeze(0)
        j = torch.tensor([source_index])
        mapped = self.mapper(d, self.source_descriptors[j], qnet.index(self.source_layers, j))
        return [(w[0].clone(), b[0].clone()) for w, b in mapped]

    @torch.no_grad()
    def td_error(
        self, layers: qnet.Layers, transitions: dict[str, torch.Tensor], gamma: float
    ) -> float:
        """Mean squared one-step TD error of a network on transitions (its own max as target)."""
        activation = self.arch.activation_module()
        batch = qnet.stack([layers])
        q = qnet.batched_forward(batch, transitions["obs"].unsqueeze(0), activation)[0]
        q_next = qnet.batched_forward(batch, transitions["next_obs"].unsqueeze(0), activation)[0]
        q_sa = q.gather(1, transitions["action"].long().view(-1, 1)).squeeze(1)
        target = (
            transitions["reward"] + gamma * (1 - transitions["terminated"]) * q_next.max(1).values
        )
        return float(((q_sa - target) ** 2).mean())

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
        indices, distances = self.nearest(descriptor, candidates)
        record: dict[str, Any] = {"candidates": len(indices)}
        if transitions is None:
            best = 0
            layers = self.map_source(descriptor, indices[0])
            record["selection"] = "nearest"
        else:
            mapped = [self.map_source(descriptor, j) for j in indices]
            scores = [self.td_error(layers, transitions, gamma) for layers in mapped]
            init_score = self.td_error(self.shared_init, transitions, gamma)
            best = int(np.argmin(scores))
            record["probe_td_errors"] = dict(
                zip([self.source_task_ids[j] for j in indices], scores, strict=True)
            )
            record["probe_td_error_shared_init"] = init_score
            record["probe_transitions"] = len(transitions["reward"])
            if init_score < scores[best]:
                record.update(
                    selection="shared_init", source_task_id=None, descriptor_distance=None
                )
                return [(w.clone(), b.clone()) for w, b in self.shared_init], record
            layers = mapped[best]
            record["selection"] = "probe"
        record["source_task_id"] = self.source_task_ids[indices[best]]
        record["descriptor_distance"] = distances[best]
        return layers, record

    # ------------------------------------------------------------------ persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"source_descriptors": self.source_descriptors}
        for k, (w, b) in enumerate(self.source_layers):
            out[f"sources.{k}.weight"], out[f"sources.{k}.bias"] = w, b
        for k, (w, b) in enumerate(self.shared_init):
            out[f"shared_init.{k}.weight"], out[f"shared_init.{k}.bias"] = w, b
        for name, value in self.mapper.state_dict().items():
            out[f"mapper.{name}"] = value
        return out

    def document(self) -> dict[str, Any]:
        return {
            **super().document(),
            "mapper": self.mapper.config.to_dict(),
            "source_task_ids": self.source_task_ids,
            "source_provenance": self.source_provenance,
        }

    @classmethod
    def from_parts(
        cls: type[LearnerT], tensors: dict[str, torch.Tensor], document: dict[str, Any], source: str
    ) -> LearnerT:
        return cls(**cls.bank_fields(tensors, document, source))

    @classmethod
    def bank_fields(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], source: str
    ) -> dict[str, Any]:
        """The constructor arguments of a bank artifact, validated."""
        fields = cls.common_fields(tensors, document, source)
        artifacts.require(document, ["mapper", "source_task_ids", "source_provenance"], source)
        arch: qnet.Architecture = fields["arch"]
        try:
            config = MapperConfig.from_dict(document["mapper"])
            mapper = MappingNetwork(arch, len(document["descriptor_names"]), config)
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{source} has an invalid mapper: {error}") from error
        num_layers = len(arch.layer_shapes)
        names = ["source_descriptors"]
        for prefix in ("sources", "shared_init"):
            names += [f"{prefix}.{k}.{p}" for k in range(num_layers) for p in ("weight", "bias")]
        names += [f"mapper.{n}" for n in mapper.state_dict()]
        artifacts.require(tensors, names, source)
        unexpected = sorted(set(tensors) - set(names))
        if unexpected:
            raise ArtifactError(f"{source} has unexpected tensors {unexpected[:5]}")
        try:
            mapper.load_state_dict(
                {n[len("mapper.") :]: t for n, t in tensors.items() if n.startswith("mapper.")}
            )
        except RuntimeError as error:
            raise ArtifactError(
                f"{source}: mapper weights do not fit its configuration: {error}"
            ) from error
        count = len(document["source_task_ids"])
        sources = [
            (tensors[f"sources.{k}.weight"], tensors[f"sources.{k}.bias"])
            for k in range(num_layers)
        ]
        shared = [
            (tensors[f"shared_init.{k}.weight"], tensors[f"shared_init.{k}.bias"])
            for k in range(num_layers)
        ]
        for k, (out_dim, in_dim) in enumerate(arch.layer_shapes):
            if sources[k][0].shape != (count, out_dim, in_dim) or sources[k][1].shape != (
                count,
                out_dim,
            ):
                raise ArtifactError(
                    f"{source}: source layer {k} has shape {tuple(sources[k][0].shape)}, expected {(count, out_dim, in_dim)}"
                )
            if shared[k][0].shape != (out_dim, in_dim) or shared[k][1].shape != (out_dim,):
                raise ArtifactError(
                    f"{source}: shared_init layer {k} has shape {tuple(shared[k][0].shape)}"
                )
        descriptors = tensors["source_descriptors"]
        if descriptors.shape != (count, len(document["descriptor_names"])):
            raise ArtifactError(
                f"{source}: source_descriptors has shape {tuple(descriptors.shape)}"
            )
        return {
            **fields,
            "mapper": mapper,
            "shared_init": shared,
            "source_task_ids": [int(t) for t in document["source_task_ids"]],
            "source_descriptors": descriptors,
            "source_layers": sources,
            "source_provenance": document["source_provenance"],
        }

    def bank_arguments(self) -> dict[str, Any]:
        """This bank's constructor arguments (to build another initializer on the same bank)."""
        return {
            "env_id": self.env_id,
            "family_key": self.family_key,
            "descriptor_names": self.descriptor_names,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "arch": self.arch,
            "mapper": self.mapper,
            "shared_init": self.shared_init,
            "source_task_ids": self.source_task_ids,
            "source_descriptors": self.source_descriptors,
            "source_layers": self.source_layers,
            "source_provenance": self.source_provenance,
            "training": self.training,
        }

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        return {
            **super().info(),
            "sources": self.num_sources,
            "source_methods": sorted({p.get("method", "?") for p in self.source_provenance}),
            "planner": self.mapper.planner is not None,
            "mapper_selection": self.training.get("mapper_selection"),
            "mapper": self.mapper.config.to_dict(),
            "mapper_parameters": sum(p.numel() for p in self.mapper.parameters()),
        }
