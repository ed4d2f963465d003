"""Initializers: what gives a warm-started DQN the first parameters of its Q-network.

An initializer serves one family configuration and one Q-network architecture, and maps a
task descriptor d_i to parameters theta_i' (:meth:`Initializer.initial_parameters`):

- :class:`~sb3_metadqn.MetaLearner`: a bank source mapped by the mapping network (MetaDQN);
- :class:`~sb3_metadqn.NearestSource`: the nearest bank source as it is (fine-tuning);
- :class:`~sb3_metadqn.SourceAverage`: the mean of the k nearest bank sources' weights;
- :class:`~sb3_metadqn.ReptileInit`: one meta-learned initialization for every task;
- :class:`~sb3_metadqn.HyperNetworkInit`: theta_i' emitted from d_i alone.

Each is one safetensors artifact whose JSON document names its ``kind``;
``Initializer.load(path)`` reads any of them; ``Cls.load(path)`` reads an artifact whose kind
is ``Cls`` or a subclass of it (and returns that subclass), refusing the others.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces

import gym_metatasks
from sb3_metadqn._version import __version__
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.spaces import check_family_and_spaces, describe_space
from sb3_metadqn.nets import qnet

InitializerT = TypeVar("InitializerT", bound="Initializer")
Record = dict[str, Any]

#: Document keys every initializer artifact has.
COMMON_KEYS = [
    "kind", "env_id", "family_key", "descriptor_names", "observation_space", "action_space",
    "architecture", "training",
]  # fmt: skip
#: The JSON types of the keys every initializer's document has.
DOCUMENT_TYPES: dict[str, Any] = {
    "kind": str, "env_id": str, "family_key": str, "descriptor_names": list,
    "observation_space": dict, "action_space": dict, "architecture": dict, "training": dict,
}  # fmt: skip
#: Initializers hold float32 parameters and descriptors, and int64 task ids.
TENSOR_DTYPES = {torch.float32, torch.int64}


def check_train_tasks(family: Any, task_ids: Iterable[int], name: str = "task_ids") -> list[int]:
    """The task ids as ints, each a task that training may use: the train split, or the
    validation split when named explicitly (never the test split).

    :raises ValueError: naming the parameter and the ids that are not such tasks
    """
    ids = [int(t) for t in task_ids]
    allowed = set(family.train_task_ids) | set(family.validation_task_ids)
    bad = [t for t in ids if t not in allowed]
    if bad:
        raise ValueError(
            f"{name} must be train-split tasks of {family.env_id} (or validation-split ones, "
            f"named explicitly); {bad[:5]} are not (test-split tasks are held out for "
            "evaluation)"
        )
    return ids


class Initializer(abc.ABC):
    """Initial Q-network parameters for the tasks of one family.

    :param env_id: the registered family id it serves
    :param family_key: the family's name, version and configuration (``TaskFamily.key``)
    :param descriptor_names: names of the descriptor entries
    :param observation_space: :func:`~sb3_metadqn.io.spaces.describe_space` of the observation space
    :param action_space: :func:`describe_space` of the action space
    :param arch: the Q-network architecture
    :param training: how it was trained: configuration, cost (``cost.core_seconds``), command
    """

    kind: ClassVar[str]
    #: True when :meth:`initial_parameters` can pick among candidates by probe transitions.
    selects_by_probe: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            artifacts.register(cls)

    def __init__(
        self,
        *,
        env_id: str,
        family_key: str,
        descriptor_names: list[str],
        observation_space: dict[str, Any],
        action_space: dict[str, Any],
        arch: qnet.Architecture,
        training: dict[str, Any],
    ) -> None:
        self.env_id = env_id
        self.family_key = family_key
        self.descriptor_names = list(descriptor_names)
        self.observation_space = observation_space
        self.action_space = action_space
        self.arch = arch
        self.training = training
        self.package_version = __version__

    # ------------------------------------------------------------------ what it does
    @abc.abstractmethod
    def initial_parameters(
        self,
        descriptor: Any,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, Record]:
        """theta_i' for the task with ``descriptor``, and a record of how it was chosen.

        :param candidates: how many bank sources to consider (initializers with
            ``selects_by_probe`` only)
        :param transitions: probe transitions of the task (flattened ``obs``, ``action``,
            ``reward``, ``next_obs``, ``terminated``) to choose among candidates
        """

    def candidate_starts(self, descriptor: Any, k: int) -> list[tuple[qnet.Layers, Record]]:
        """The starts of the ``k`` nearest bank sources for the task, nearest first, each with
        its record: what a probe by greedy episodes compares (``selects_by_probe`` only)."""
        raise ValueError(
            f"a {self.kind} gives one initialization; only initializers with a source bank "
            "have candidate starts to compare"
        )

    # ------------------------------------------------------------------ checks
    @property
    def descriptor_dim(self) -> int:
        return len(self.descriptor_names)

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
        """Raise :class:`ArtifactError` when this initializer cannot initialize that network."""
        check_family_and_spaces(
            self.kind,
            (self.family_key, self.env_id),
            family_key,
            [
                ("observation space", self.observation_space, describe_space(observation_space)),
                ("action space", self.action_space, describe_space(action_space)),
            ],
        )
        if arch != self.arch:
            raise ArtifactError(
                f"the {self.kind} initializes Q-networks with net_arch="
                f"{list(self.arch.net_arch)}, activation {self.arch.activation}; the model has "
                f"net_arch={list(arch.net_arch)}, activation {arch.activation}"
            )

    # ------------------------------------------------------------------ persistence
    @abc.abstractmethod
    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors of the artifact."""

    def document(self) -> dict[str, Any]:
        """The JSON document of the artifact (subclasses add their own keys)."""
        return {
            "kind": self.kind,
            "package_version": self.package_version,
            "env_id": self.env_id,
            "family_key": self.family_key,
            "descriptor_names": self.descriptor_names,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "architecture": self.arch.to_dict(),
            "training": self.training,
        }

    @classmethod
    @abc.abstractmethod
    def from_parts(
        cls: type[InitializerT],
        tensors: dict[str, torch.Tensor],
        document: dict[str, Any],
        origin: str,
    ) -> InitializerT:
        """Rebuild from an artifact's tensors and document, validating both.

        :raises ArtifactError: when they are incomplete or inconsistent
        """

    @staticmethod
    def common_fields(
        tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> dict[str, Any]:
        """The constructor arguments every initializer shares, read from a document (and a
        check that no tensor holds NaN or inf)."""
        artifacts.require(document, COMMON_KEYS, origin)
        artifacts.check_fields(document, DOCUMENT_TYPES, origin)
        if not all(isinstance(n, str) for n in document["descriptor_names"]):
            raise ArtifactError(f"{origin}: 'descriptor_names' must be a list of strings")
        if document["env_id"].split(":", 1)[-1] not in gym_metatasks.families():
            raise ArtifactError(
                f"{origin}: env_id {document['env_id']!r} is not a registered family; known "
                f"families: {gym_metatasks.families()}"
            )
        try:
            arch = qnet.Architecture.from_dict(document["architecture"])
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{origin} has an invalid architecture: {error}") from error
        artifacts.check_finite(tensors, origin)
        artifacts.check_dtypes(tensors, TENSOR_DTYPES, origin)
        return {
            "env_id": document["env_id"],
            "family_key": document["family_key"],
            "descriptor_names": document["descriptor_names"],
            "observation_space": document["observation_space"],
            "action_space": document["action_space"],
            "arch": arch,
            "training": document["training"],
        }

    def to_bytes(self) -> bytes:
        return artifacts.encode(self.tensors(), self.document())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the initializer atomically as one safetensors file."""
        return artifacts.write(path, self.tensors(), self.document())

    @classmethod
    def load(cls: type[InitializerT], path: str | os.PathLike[str]) -> InitializerT:
        """Read and validate an artifact of this class or a subclass, returned as the class its
        ``kind`` names (``Initializer.load``: of any kind).

        :raises ArtifactError: when the file is not a complete, consistent artifact of it
        """
        tensors, document = artifacts.read(path)
        return cls._dispatch(tensors, document, f"artifact {str(path)!r}")

    @classmethod
    def from_bytes(cls: type[InitializerT], data: bytes, origin: str = "<bytes>") -> InitializerT:
        tensors, document = artifacts.decode(data, origin)
        return cls._dispatch(tensors, document, origin)

    @classmethod
    def _dispatch(
        cls: type[InitializerT],
        tensors: dict[str, torch.Tensor],
        document: dict[str, Any],
        origin: str,
    ) -> InitializerT:
        kind = document.get("kind")
        target = artifacts.artifact_type(kind)
        expected = getattr(cls, "kind", None)
        if not (isinstance(target, type) and issubclass(target, cls)):
            known = [k for k in artifacts.kinds() if _is_initializer(artifacts.artifact_type(k))]
            wanted = repr(expected) if expected else f"an initializer ({known})"
            raise ArtifactError(f"{origin} holds a {kind!r}, not a {wanted}")
        initializer = target.from_parts(tensors, document, origin)
        initializer.package_version = str(document.get("package_version", "unknown"))
        return initializer

    def common_arguments(self) -> dict[str, Any]:
        """The constructor arguments every initializer shares (to build another one for the
        same family and network)."""
        return {
            "env_id": self.env_id,
            "family_key": self.family_key,
            "descriptor_names": self.descriptor_names,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "arch": self.arch,
            "training": self.training,
        }

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        return {
            "kind": self.kind,
            "env_id": self.env_id,
            "family_key": self.family_key,
            "package_version": self.package_version,
            "descriptor_dim": self.descriptor_dim,
            "net_arch": list(self.arch.net_arch),
            "activation": self.arch.activation,
            "training": self.training,
        }


def _is_initializer(target: Any) -> bool:
    return isinstance(target, type) and issubclass(target, Initializer)
