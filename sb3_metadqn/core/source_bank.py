"""The source bank: Q-networks trained on source tasks of one family, their descriptors and
provenance, and the shared initialization they all started from.

Initializers on a bank (the meta-learner, nearest source, source average) hold a
:class:`SourceBank` and pick their start with :meth:`SourceBank.select`: the nearest source
by descriptor distance, or the best of the k nearest by TD error on probe transitions, with
the shared initialization as the fallback when it scores better; :meth:`SourceBank.candidates`
lists the k nearest starts for a probe by greedy episodes (:meth:`SourceBank.farthest`
serves the attribution benchmark's ablation). A bank is stored inside its initializer's artifact
(:meth:`SourceBank.tensors`, :meth:`SourceBank.document`, :meth:`SourceBank.from_parts`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

import gym_metatasks
from sb3_metadqn.core.initializer import check_train_tasks
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets import qnet

Record = dict[str, Any]


class SourceBank:
    """Source Q-networks of one family configuration.

    :param task_ids: task id of each of the ``T`` sources
    :param descriptors: ``(T, D)`` descriptors
    :param layers: batched source parameters (weights ``(T, out, in)``, biases ``(T, out)``)
    :param provenance: per source, how it was trained
    :param shared_init: the initialization every source started from (unbatched layers)
    """

    def __init__(
        self,
        *,
        task_ids: list[int],
        descriptors: torch.Tensor,
        layers: qnet.Layers,
        provenance: list[dict[str, Any]],
        shared_init: qnet.Layers,
    ) -> None:
        self.task_ids = [int(t) for t in task_ids]
        self.descriptors = descriptors.float()
        self.layers = layers
        self.provenance = provenance
        self.shared_init = shared_init

    def __len__(self) -> int:
        return len(self.task_ids)

    def __repr__(self) -> str:
        return f"SourceBank(sources={len(self)}, descriptor_dim={self.descriptors.shape[1]})"

    def check_train_tasks(self, env_id: str) -> None:
        """Raise ``ValueError`` unless every source is a train-split task of ``env_id`` (or a
        validation-split one; families not registered here are not checked)."""
        if env_id in gym_metatasks.families():
            check_train_tasks(gym_metatasks.family(env_id), self.task_ids, "source_task_ids")

    # ------------------------------------------------------------------ lookup
    def distances(self, descriptor: torch.Tensor) -> torch.Tensor:
        """Euclidean descriptor distance of every source to ``descriptor``, shape ``(T,)``."""
        return torch.linalg.vector_norm(self.descriptors - descriptor, dim=1)

    def nearest(self, descriptor: torch.Tensor, k: int = 1) -> tuple[list[int], list[float]]:
        """Indices of the ``k`` nearest sources and their descriptor distances."""
        k = max(1, min(k, len(self)))
        values, indices = self.distances(descriptor).topk(k, largest=False)
        return indices.tolist(), values.tolist()

    def farthest(self, descriptor: torch.Tensor, k: int = 1) -> tuple[list[int], list[float]]:
        """Indices of the ``k`` farthest sources and their descriptor distances."""
        k = max(1, min(k, len(self)))
        values, indices = self.distances(descriptor).topk(k, largest=True)
        return indices.tolist(), values.tolist()

    def source(self, index: int) -> qnet.Layers:
        """A copy of source ``index``'s parameters (unbatched layers)."""
        return [(w[index].clone(), b[index].clone()) for w, b in self.layers]

    def select(
        self,
        descriptor: torch.Tensor,
        start: Callable[[int], qnet.Layers],
        activation: nn.Module,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, Record]:
        """The start for a task, and the record of how it was chosen.

        :param descriptor: the task's descriptor, shape ``(D,)``
        :param start: the start a source gives, by source index (the source itself, or it
            mapped to the task)
        :param activation: the Q-network's activation (for the TD errors)
        :param candidates: how many nearest sources to consider
        :param transitions: probe transitions of the task (flattened ``obs``, ``action``,
            ``reward``, ``next_obs``, ``terminated``); with them the candidate with the lowest
            TD error wins, and the shared initialization when it beats all
        """
        indices, distances = self.nearest(descriptor, candidates)
        record: Record = {"candidates": len(indices)}
        if transitions is None:
            best = 0
            layers = start(indices[0])
            record["selection"] = "nearest"
        else:
            starts = [start(j) for j in indices]
            scores = [td_error(s, transitions, gamma, activation) for s in starts]
            init_score = td_error(self.shared_init, transitions, gamma, activation)
            best = int(np.argmin(scores))
            record["probe_td_errors"] = dict(
                zip([self.task_ids[j] for j in indices], scores, strict=True)
            )
            record["probe_td_error_shared_init"] = init_score
            record["probe_transitions"] = len(transitions["reward"])
            if init_score < scores[best]:
                record.update(
                    selection="shared_init", source_task_id=None, descriptor_distance=None
                )
                return [(w.clone(), b.clone()) for w, b in self.shared_init], record
            layers = starts[best]
            record["selection"] = "probe"
        record["source_task_id"] = self.task_ids[indices[best]]
        record["descriptor_distance"] = distances[best]
        return layers, record

    def candidates(
        self, descriptor: torch.Tensor, start: Callable[[int], qnet.Layers], k: int
    ) -> list[tuple[qnet.Layers, Record]]:
        """The starts of the ``k`` nearest sources, nearest first, each with its record
        (``source_task_id``, ``descriptor_distance``): what a return probe compares."""
        indices, distances = self.nearest(descriptor, k)
        return [
            (start(j), {"source_task_id": self.task_ids[j], "descriptor_distance": distance})
            for j, distance in zip(indices, distances, strict=True)
        ]

    # ------------------------------------------------------------------ persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        """The bank's tensors in its initializer's artifact."""
        out = {"source_descriptors": self.descriptors}
        for k, (w, b) in enumerate(self.layers):
            out[f"sources.{k}.weight"], out[f"sources.{k}.bias"] = w, b
        for k, (w, b) in enumerate(self.shared_init):
            out[f"shared_init.{k}.weight"], out[f"shared_init.{k}.bias"] = w, b
        return out

    def document(self) -> dict[str, Any]:
        """The bank's keys in its initializer's artifact document."""
        return {"source_task_ids": self.task_ids, "source_provenance": self.provenance}

    @staticmethod
    def tensor_names(arch: qnet.Architecture) -> list[str]:
        """The names of a bank's tensors for Q-networks of ``arch``."""
        names = ["source_descriptors"]
        for prefix in ("sources", "shared_init"):
            names += [
                f"{prefix}.{k}.{p}"
                for k in range(len(arch.layer_shapes))
                for p in ("weight", "bias")
            ]
        return names

    @classmethod
    def from_parts(
        cls,
        tensors: dict[str, torch.Tensor],
        document: dict[str, Any],
        origin: str,
        arch: qnet.Architecture,
        descriptor_dim: int,
    ) -> SourceBank:
        """The bank stored in an artifact, its shapes checked against ``arch``.

        :raises ArtifactError: naming what is missing or misshapen
        """
        artifacts.check_fields(
            document, {"source_task_ids": list, "source_provenance": list}, origin
        )
        bad = [
            t
            for t in document["source_task_ids"]
            if isinstance(t, bool) or not isinstance(t, int) or t < 0
        ]
        if bad:
            raise ArtifactError(
                f"{origin}: 'source_task_ids' must be task ids (ints >= 0), got {bad[:3]}"
            )
        if len(document["source_provenance"]) != len(document["source_task_ids"]):
            raise ArtifactError(
                f"{origin}: 'source_provenance' must hold one record per source task id"
            )
        artifacts.require(tensors, cls.tensor_names(arch), origin)
        num_layers = len(arch.layer_shapes)
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
                    f"{origin}: source layer {k} has shape {tuple(sources[k][0].shape)}, expected {(count, out_dim, in_dim)}"
                )
            if shared[k][0].shape != (out_dim, in_dim) or shared[k][1].shape != (out_dim,):
                raise ArtifactError(
                    f"{origin}: shared_init layer {k} has shape {tuple(shared[k][0].shape)}"
                )
        descriptors = tensors["source_descriptors"]
        if descriptors.shape != (count, descriptor_dim):
            raise ArtifactError(
                f"{origin}: source_descriptors has shape {tuple(descriptors.shape)}"
            )
        return cls(
            task_ids=[int(t) for t in document["source_task_ids"]],
            descriptors=descriptors,
            layers=sources,
            provenance=document["source_provenance"],
            shared_init=shared,
        )


@torch.no_grad()
def td_error(
    layers: qnet.Layers, transitions: dict[str, torch.Tensor], gamma: float, activation: nn.Module
) -> float:
    """Mean squared one-step TD error of a network on transitions (its own max as target)."""
    batch = qnet.stack([layers])
    q = qnet.batched_forward(batch, transitions["obs"].unsqueeze(0), activation)[0]
    q_next = qnet.batched_forward(batch, transitions["next_obs"].unsqueeze(0), activation)[0]
    q_sa = q.gather(1, transitions["action"].long().view(-1, 1)).squeeze(1)
    target = transitions["reward"] + gamma * (1 - transitions["terminated"]) * q_next.max(1).values
    return float(((q_sa - target) ** 2).mean())
