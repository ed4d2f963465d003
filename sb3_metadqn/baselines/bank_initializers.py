"""Baselines on a meta-learner's source bank without its mapping network.

- :class:`NearestSource`: fine-tune from the nearest source as it is (the identity map), or
  with ``meta_candidates``/``meta_probe_steps`` the best of the k nearest by TD error;
- :class:`SourceAverage`: the mean of the k nearest sources' weights (meaningful because
  every source starts from one shared initialization).

Both hold the same :class:`~sb3_metadqn.core.source_bank.SourceBank` as the meta-learner they
are built from (``NearestSource.of(learner)``), so a comparison isolates what the mapping network
adds. Neither is a meta-learner: MetaDQN refuses them; use them with WarmStartDQN.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch

from sb3_metadqn._checks import check_value
from sb3_metadqn.core.initializer import Initializer, Record
from sb3_metadqn.core.meta_learner import MetaLearner
from sb3_metadqn.core.source_bank import SourceBank
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets import qnet

BankInitializerT = TypeVar("BankInitializerT", bound="BankInitializer")


class BankInitializer(Initializer):
    """An initializer that picks its start from a source bank, without a mapping network.

    :param bank: the source bank (sources must be train-split tasks of ``env_id``)
    :param common: the arguments of :class:`~sb3_metadqn.Initializer`
    """

    def __init__(self, *, bank: SourceBank, **common: Any) -> None:
        super().__init__(**common)
        bank.check_train_tasks(self.env_id)
        self.bank = bank

    @classmethod
    def of(cls: type[BankInitializerT], learner: MetaLearner, **options: Any) -> BankInitializerT:
        """The baseline on ``learner``'s bank."""
        return cls(bank=learner.bank, **learner.common_arguments(), **options)

    @property
    def num_sources(self) -> int:
        return len(self.bank)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(env_id={self.env_id!r}, sources={self.num_sources}, "
            f"net_arch={list(self.arch.net_arch)})"
        )

    # ------------------------------------------------------------------ persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        return self.bank.tensors()

    def document(self) -> dict[str, Any]:
        return {**super().document(), **self.bank.document()}

    @classmethod
    def bank_fields(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> dict[str, Any]:
        """The constructor arguments of a bank initializer's artifact, validated (the
        identity mapping network that artifacts of version 0.1.0 carried is ignored)."""
        fields = cls.common_fields(tensors, document, origin)
        names = SourceBank.tensor_names(fields["arch"])
        unexpected = sorted(n for n in set(tensors) - set(names) if not n.startswith("mapper."))
        if unexpected:
            raise ArtifactError(f"{origin} has unexpected tensors {unexpected[:5]}")
        bank = SourceBank.from_parts(
            tensors, document, origin, fields["arch"], len(document["descriptor_names"])
        )
        return {**fields, "bank": bank}

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "sources": self.num_sources,
            "source_methods": sorted({p.get("method", "?") for p in self.bank.provenance}),
        }


class NearestSource(BankInitializer):
    """Fine-tuning from the nearest source: theta_i' = theta_j, no mapping network.

    Build one from a meta-learner with ``NearestSource.of(learner)``; its artifact is the
    learner's bank.
    """

    kind = "nearest-source"
    selects_by_probe = True

    def initial_parameters(
        self,
        descriptor: Any,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, dict[str, Any]]:
        """The nearest source's parameters (or the best of the ``candidates`` nearest by TD
        error on ``transitions``, see :meth:`SourceBank.select`)."""
        d = self.check_descriptor(descriptor)
        return self.bank.select(
            d,
            self.bank.source,
            self.arch.activation_module(),
            candidates=candidates,
            transitions=transitions,
            gamma=gamma,
        )

    def candidate_starts(self, descriptor: Any, k: int) -> list[tuple[qnet.Layers, Record]]:
        """The ``k`` nearest sources as they are, nearest first, with their records."""
        return self.bank.candidates(self.check_descriptor(descriptor), self.bank.source, k)

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> NearestSource:
        return cls(**cls.bank_fields(tensors, document, origin))


class SourceAverage(BankInitializer):
    """The mean of the ``k`` nearest sources' weights: theta_i' = (1/k) sum_j theta_j.

    :param k: how many nearest sources to average (at most the bank size)
    :param bank: the source bank
    :param common: the arguments of :class:`~sb3_metadqn.Initializer`
    """

    kind = "source-average"
    selects_by_probe = False

    def __init__(self, *, k: int = 5, bank: SourceBank, **common: Any) -> None:
        check_value("k", k)
        super().__init__(bank=bank, **common)
        if k > self.num_sources:
            raise ValueError(f"k must be <= the bank's {self.num_sources} sources, got {k}")
        self.k = k

    def initial_parameters(
        self,
        descriptor: Any,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, dict[str, Any]]:
        """The mean of the ``k`` nearest sources (``candidates``/``transitions`` unused)."""
        indices, distances = self.bank.nearest(self.check_descriptor(descriptor), self.k)
        chosen = torch.tensor(indices)
        layers = [(w[chosen].mean(0), b[chosen].mean(0)) for w, b in self.bank.layers]
        record = {
            "selection": f"average of {len(indices)} nearest",
            "source_task_ids": [self.bank.task_ids[j] for j in indices],
            "descriptor_distance": distances[0],
            "mean_descriptor_distance": float(sum(distances) / len(distances)),
        }
        return layers, record

    def document(self) -> dict[str, Any]:
        return {**super().document(), "k": self.k}

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> SourceAverage:
        artifacts.require(document, ["k"], origin)
        try:
            return cls(k=document["k"], **cls.bank_fields(tensors, document, origin))
        except ValueError as error:
            raise ArtifactError(f"{origin}: {error}") from error

    def info(self) -> dict[str, Any]:
        return {**super().info(), "k": self.k}
