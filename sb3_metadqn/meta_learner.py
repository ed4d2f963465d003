"""The meta-learner: a source bank, its shared initialization and the mapping network.

``MetaLearner.initial_parameters(d_i)`` is what :class:`~sb3_metadqn.MetaDQN` calls: pick a
source j (nearest descriptor, or best of the k nearest by TD error on probe transitions,
with the shared initialization as fallback) and return theta_i' = W_ij theta_j with a record
of the choice. A meta-learner is saved as one safetensors artifact (see
:mod:`sb3_metadqn.artifacts`) and validated against the env it is used with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

import sb3_metadqn
from sb3_metadqn import artifacts, qnet
from sb3_metadqn.artifacts import ArtifactError
from sb3_metadqn.mapping import MapperConfig, MappingNetwork

KIND = "meta-learner"


def describe_space(space: spaces.Space[Any]) -> dict[str, Any]:
    """A JSON description of an observation or action space, precise enough to compare."""
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": float(np.min(space.low)),
            "high": float(np.max(space.high)),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist()}
    raise ValueError(f"unsupported space {space}")


class MetaLearner:
    """A bank of source Q-networks and the mapping network that adapts them to a new task.

    :param env_id: the registered family id the sources were trained on
    :param family_key: the family's name, version and configuration (``TaskFamily.key``)
    :param descriptor_names: names of the descriptor entries
    :param observation_space: description (:func:`describe_space`) of the observation space
    :param action_space: description of the action space
    :param arch: the Q-network architecture
    :param mapper: the mapping network
    :param shared_init: the initialization every source started from
    :param source_task_ids: task id of each source
    :param source_descriptors: ``(T, D)`` descriptors
    :param source_layers: batched source parameters
    :param source_provenance: per source, how it was trained
    :param training: the meta-training configuration and cost
    """

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
        self.env_id = env_id
        self.family_key = family_key
        self.descriptor_names = list(descriptor_names)
        self.observation_space = observation_space
        self.action_space = action_space
        self.arch = arch
        self.mapper = mapper.eval()
        self.shared_init = shared_init
        self.source_task_ids = list(source_task_ids)
        self.source_descriptors = source_descriptors.float()
        self.source_layers = source_layers
        self.source_provenance = source_provenance
        self.training = training
        self.package_version = sb3_metadqn.__version__

    # ------------------------------------------------------------------ queries
    @property
    def descriptor_dim(self) -> int:
        return len(self.descriptor_names)

    @property
    def num_sources(self) -> int:
        return len(self.source_task_ids)

    def __repr__(self) -> str:
        return (
            f"MetaLearner(env_id={self.env_id!r}, sources={self.num_sources}, "
            f"net_arch={list(self.arch.net_arch)}, mapper_rank={self.mapper.config.rank})"
        )

    def check_descriptor(self, descriptor: Any) -> torch.Tensor:
        """The descriptor as a float tensor of shape ``(D,)``; clear errors otherwise."""
        array = np.asarray(descriptor, dtype=np.float64)
        if array.shape != (self.descriptor_dim,):
            raise ValueError(
                f"task_descriptor must have shape ({self.descriptor_dim},) for {self.env_id} "
                f"(descriptor names {self.descriptor_names[:5]}...), got shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"task_descriptor must be finite, got {array.tolist()}")
        return torch.as_tensor(array, dtype=torch.float32)

    def check_compatible(
        self,
        arch: qnet.Architecture,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        family_key: str | None = None,
    ) -> None:
        """Raise :class:`ArtifactError` when this meta-learner cannot initialize that network."""
        if family_key is not None and family_key != self.family_key:
            raise ArtifactError(
                f"the meta-learner is for family {self.family_key} ({self.env_id}); "
                f"the env is family {family_key}"
            )
        for name, mine, theirs in (
            ("observation space", self.observation_space, describe_space(observation_space)),
            ("action space", self.action_space, describe_space(action_space)),
        ):
            if mine != theirs:
                raise ArtifactError(f"the meta-learner's {name} is {mine}; the env's is {theirs}")
        if arch != self.arch:
            raise ArtifactError(
                f"the meta-learner maps Q-networks with net_arch={list(self.arch.net_arch)}, "
                f"activation {self.arch.activation}; the model has net_arch="
                f"{list(arch.net_arch)}, activation {arch.activation}"
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
            "kind": KIND,
            "package_version": self.package_version,
            "env_id": self.env_id,
            "family_key": self.family_key,
            "descriptor_names": self.descriptor_names,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "architecture": self.arch.to_dict(),
            "mapper": self.mapper.config.to_dict(),
            "source_task_ids": self.source_task_ids,
            "source_provenance": self.source_provenance,
            "training": self.training,
        }

    def to_bytes(self) -> bytes:
        return artifacts.encode(self.tensors(), self.document())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the meta-learner atomically as one safetensors file."""
        return artifacts.write(path, self.tensors(), self.document())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MetaLearner:
        """Read and validate a meta-learner artifact.

        :raises ArtifactError: when the file is not a complete, consistent meta-learner
        """
        tensors, document = artifacts.read(path)
        return cls.from_parts(tensors, document, source=f"artifact {str(path)!r}")

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> MetaLearner:
        tensors, document = artifacts.decode(data, source)
        return cls.from_parts(tensors, document, source)

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], source: str
    ) -> MetaLearner:
        keys = [
            "kind", "env_id", "family_key", "descriptor_names", "observation_space",
            "action_space", "architecture", "mapper", "source_task_ids", "source_provenance",
            "training",
        ]  # fmt: skip
        artifacts.require(document, keys, source)
        if document["kind"] != KIND:
            raise ArtifactError(f"{source} holds a {document['kind']!r}, not a {KIND!r}")
        try:
            arch = qnet.Architecture.from_dict(document["architecture"])
            config = MapperConfig.from_dict(document["mapper"])
            mapper = MappingNetwork(arch, len(document["descriptor_names"]), config)
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(
                f"{source} has an invalid architecture or mapper: {error}"
            ) from error
        num_layers = len(arch.layer_shapes)
        names = ["source_descriptors"]
        for prefix in ("sources", "shared_init"):
            names += [f"{prefix}.{k}.{p}" for k in range(num_layers) for p in ("weight", "bias")]
        names += [f"mapper.{n}" for n in mapper.state_dict()]
        artifacts.require(tensors, names, source)
        expected = {f"mapper.{n}" for n in mapper.state_dict()} | set(names)
        unexpected = sorted(set(tensors) - expected)
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
        for name, t in tensors.items():
            if not torch.isfinite(t).all():
                raise ArtifactError(f"{source}: tensor {name!r} holds NaN or inf")
        learner = cls(
            env_id=document["env_id"],
            family_key=document["family_key"],
            descriptor_names=document["descriptor_names"],
            observation_space=document["observation_space"],
            action_space=document["action_space"],
            arch=arch,
            mapper=mapper,
            shared_init=shared,
            source_task_ids=[int(t) for t in document["source_task_ids"]],
            source_descriptors=descriptors,
            source_layers=sources,
            source_provenance=document["source_provenance"],
            training=document["training"],
        )
        learner.package_version = str(document.get("package_version", "unknown"))
        return learner

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        return {
            "env_id": self.env_id,
            "family_key": self.family_key,
            "package_version": self.package_version,
            "descriptor_dim": self.descriptor_dim,
            "net_arch": list(self.arch.net_arch),
            "activation": self.arch.activation,
            "sources": self.num_sources,
            "source_methods": sorted({p.get("method", "?") for p in self.source_provenance}),
            "mapper": self.mapper.config.to_dict(),
            "mapper_parameters": sum(p.numel() for p in self.mapper.parameters()),
            "training": self.training,
        }
