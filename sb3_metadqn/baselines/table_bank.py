"""A bank of source Q-tables of one task family: what
:class:`~sb3_metadqn.baselines.meta_tabular.MetaTabularQLearning` starts a new task's table from.

Sources are train-split tasks. Their tables are the exact discounted Q* where the family
has an exact oracle (``method="oracle"``), or tabular Q-learning runs (``"q_learning"``,
the general path). A bank is saved as one safetensors artifact (kind ``"table-bank"``, see
:mod:`sb3_metadqn.io.artifacts`) and validated on load.

>>> import gym_metatasks
>>> family = gym_metatasks.family("MetaNav5x5-v0")
>>> bank = TableBank.build("MetaNav5x5-v0", num_sources=5)  # exact Q* of 5 train tasks
>>> bank.tables.shape  # (sources, states, actions)
(5, 25, 4)
>>> indices, distances = bank.nearest(family.descriptor(family.test_task_ids[0]), k=3)
>>> indices
[4, 2, 3]
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray

import gym_metatasks
from sb3_metadqn._checks import Limit, check_args, check_value
from sb3_metadqn._version import __version__
from sb3_metadqn.agents.tabular_policy import StateIndex
from sb3_metadqn.baselines.source_tables import check_agent_kwargs, source_table, source_task_ids
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.spaces import check_family_and_spaces, describe_space, space_from_description
from sb3_metadqn.progress import Progress

KIND = "table-bank"
#: How a table bank's source tables are made (``TableBank.build(method=...)``).
TABLE_TRAINERS = ("auto", "oracle", "q_learning")


@artifacts.register
class TableBank:
    """Q-tables of source tasks of one family, with their descriptors and provenance.

    :param env_id: the registered family id the sources come from
    :param family_key: the family's name, version and configuration (``TaskFamily.key``)
    :param descriptor_names: names of the descriptor entries (``D`` of them)
    :param observation_space: :func:`~sb3_metadqn.io.spaces.describe_space` of the
        observation space
    :param action_space: the same for the action space
    :param task_ids: task id of each of the ``T`` sources
    :param descriptors: ``(T, D)`` float32 descriptors
    :param tables: ``(T, S, A)`` float64 Q-tables
    :param provenance: per source, how its table was made (method, seed, core seconds)
    :param training: ``{"config": {...}, "cost": {"core_seconds": ..., "wall_seconds": ...}}``:
        the build configuration and its cost (``core_seconds``: process CPU time summed over
        sources)
    """

    kind: ClassVar[str] = KIND

    def __init__(
        self,
        *,
        env_id: str,
        family_key: str,
        descriptor_names: Sequence[str],
        observation_space: dict[str, Any],
        action_space: dict[str, Any],
        task_ids: Sequence[int],
        descriptors: Any,
        tables: Any,
        provenance: Sequence[dict[str, Any]],
        training: dict[str, Any],
    ) -> None:
        self.env_id = env_id
        self.family_key = family_key
        self.descriptor_names = list(descriptor_names)
        self.observation_space = dict(observation_space)
        self.action_space = dict(action_space)
        self.task_ids = [int(t) for t in task_ids]
        self.descriptors: NDArray[np.float32] = np.asarray(descriptors, dtype=np.float32)
        self.tables: NDArray[np.float64] = np.asarray(tables, dtype=np.float64)
        self.provenance = [dict(p) for p in provenance]
        self.training = dict(training)
        self.package_version = __version__
        count, dim = len(self.task_ids), len(self.descriptor_names)
        if count == 0:
            raise ValueError("a TableBank needs at least one source")
        if len(set(self.task_ids)) != count:
            raise ValueError(f"task_ids repeat a task: {self.task_ids}")
        if self.descriptors.shape != (count, dim):
            raise ValueError(
                f"descriptors has shape {self.descriptors.shape}, expected {(count, dim)}"
            )
        if self.tables.ndim != 3 or self.tables.shape[0] != count:
            raise ValueError(f"tables has shape {self.tables.shape}, expected ({count}, S, A)")
        if len(self.provenance) != count:
            raise ValueError(f"provenance has {len(self.provenance)} entries for {count} sources")
        for name, array in (("descriptors", self.descriptors), ("tables", self.tables)):
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} holds NaN or inf")

    # ------------------------------------------------------------------ queries
    @property
    def num_sources(self) -> int:
        return len(self.task_ids)

    @property
    def descriptor_dim(self) -> int:
        return len(self.descriptor_names)

    @property
    def config(self) -> dict[str, Any]:
        """How the bank was built (``training["config"]``: method, gamma, seed, ...)."""
        config = self.training.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def table_shape(self) -> tuple[int, int]:
        """``(n_states, n_actions)`` of every table."""
        return int(self.tables.shape[1]), int(self.tables.shape[2])

    def __len__(self) -> int:
        return self.num_sources

    def __repr__(self) -> str:
        return (
            f"TableBank(env_id={self.env_id!r}, sources={self.num_sources}, "
            f"table_shape={self.table_shape}, method={self.config.get('method')!r})"
        )

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        return {
            "kind": KIND,
            "env_id": self.env_id,
            "family_key": self.family_key,
            "package_version": self.package_version,
            "sources": self.num_sources,
            "table_shape": list(self.table_shape),
            "training": self.training,
        }

    def check_descriptor(self, descriptor: Any) -> NDArray[np.float64]:
        """The descriptor as float64 of shape ``(D,)``; clear errors otherwise."""
        try:
            array = np.asarray(descriptor, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"descriptor must be an array of numbers, got {descriptor!r}"
            ) from error
        if array.shape != (self.descriptor_dim,):
            raise ValueError(
                f"descriptor must have shape ({self.descriptor_dim},) for {self.env_id} "
                f"(names {self.descriptor_names[:5]}...), got shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"descriptor must be finite, got {array.tolist()}")
        return array

    def nearest(self, descriptor: Any, k: int = 1) -> tuple[list[int], list[float]]:
        """Indices of the ``k`` nearest sources (at most all of them), nearest first, and
        their Euclidean descriptor distances; ties go to the lower index."""
        k = check_value("k", k)
        d = self.check_descriptor(descriptor)
        distances = np.linalg.norm(self.descriptors.astype(np.float64) - d, axis=1)
        order = np.argsort(distances, kind="stable")[: int(k)]
        return [int(j) for j in order], [float(distances[j]) for j in order]

    def check_compatible(
        self,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        family_key: str | None = None,
    ) -> None:
        """Raise :class:`ArtifactError` when these tables cannot initialize a model of an env
        with these spaces (and family, when known)."""
        check_family_and_spaces(
            "table bank",
            (self.family_key, self.env_id),
            family_key,
            [
                ("observation space", self.observation_space, describe_space(observation_space)),
                ("action space", self.action_space, describe_space(action_space)),
            ],
        )
        shape = (StateIndex(observation_space).n_states, int(action_space.n))  # type: ignore[attr-defined]
        if self.table_shape != shape:
            raise ArtifactError(
                f"the table bank holds tables of shape {self.table_shape}; the env needs {shape}"
            )

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        env_id: str,
        *,
        num_sources: int = 800,
        method: str = "auto",
        timesteps: int = 50_000,
        gamma: float = 0.99,
        seed: int = 0,
        task_ids: Sequence[int] | None = None,
        verbose: int = 0,
        agent_kwargs: Mapping[str, Any] | None = None,
        progress_bar: bool = False,
    ) -> TableBank:
        """Make the tables of train-split source tasks of a family.

        :param env_id: registered family id, e.g. ``"MetaNav-v0"``
        :param num_sources: how many train tasks to draw (with ``seed``); all of them when
            the split has no more. Ignored when ``task_ids`` is given.
        :param method: ``"oracle"``: exact discounted Q* by value iteration on the task's
            model (families with ``oracle == "exact"``); ``"q_learning"``:
            :class:`~sb3_metadqn.agents.tabular_q.TabularQLearning` for ``timesteps`` steps per
            source; ``"auto"``: the oracle where the family has one
        :param timesteps: env steps per source for ``"q_learning"``
        :param gamma: discount of the tables, in ``[0, 1)``
        :param seed: draws the sources and seeds each Q-learning run (per task id)
        :param task_ids: explicit source tasks; must be train-split task ids
        :param verbose: 1 prints progress
        :param agent_kwargs: further TabularQLearning arguments for ``"q_learning"``
            (JSON-ready values, e.g. ``{"learning_rate": 0.5}``)
        :param progress_bar: show a bar of sources on stderr (``source tables``)
        :raises ValueError: naming test-split, unknown or repeated task ids, or bad arguments
        """
        family = gym_metatasks.family(env_id)
        if method not in TABLE_TRAINERS:
            raise ValueError(f"method must be one of {TABLE_TRAINERS}, got {method!r}")
        has_oracle = family.oracle == "exact" and hasattr(family, "model")
        resolved = ("oracle" if has_oracle else "q_learning") if method == "auto" else method
        if resolved == "oracle" and not has_oracle:
            raise ValueError(
                f"method='oracle' needs a family with an exact tabular model; {env_id} has "
                f"oracle={family.oracle!r}: use method='q_learning'"
            )
        check_value("num_sources", num_sources, Limit(int, 1))
        check_args({"timesteps": timesteps, "seed": seed, "verbose": verbose, "gamma": gamma})
        agent = check_agent_kwargs(agent_kwargs)
        ids = source_task_ids(family, num_sources, seed, task_ids)
        probe = family.make(ids[0])
        observation_space, action_space = probe.observation_space, probe.action_space
        probe.close()
        index = StateIndex(observation_space)
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{env_id} has action space {action_space}; tables need Discrete")
        shape = (index.n_states, int(action_space.n))
        tables = np.zeros((len(ids), *shape))
        provenance: list[dict[str, Any]] = []
        wall_start = time.perf_counter()
        progress = Progress(progress_bar)
        with progress.phase("source tables", len(ids), unit="source") as bar:
            for k, task_id in enumerate(ids):
                start = time.process_time()
                q, record = source_table(
                    family, task_id, resolved, float(gamma), int(seed), int(timesteps), agent
                )
                if q.shape != shape:
                    raise ValueError(
                        f"task {task_id}: its table has shape {q.shape}, the spaces need {shape}"
                    )
                tables[k] = q
                record["core_seconds"] = time.process_time() - start
                provenance.append(record)
                if verbose >= 1 and ((k + 1) % 50 == 0 or k + 1 == len(ids)):
                    progress.write(f"TableBank.build {env_id}: {k + 1}/{len(ids)} ({resolved})")
                bar.update(1)
        core_seconds = float(sum(p["core_seconds"] for p in provenance))
        training = {
            "config": {
                "env_id": family.env_id,
                "method": resolved,
                "method_requested": method,
                "gamma": float(gamma),
                "seed": int(seed),
                "num_sources": len(ids),
                "task_ids_given": task_ids is not None,
                "timesteps": int(timesteps) if resolved == "q_learning" else None,
                "agent_kwargs": agent if resolved == "q_learning" else None,
            },
            "cost": {
                "core_seconds": core_seconds,
                "wall_seconds": time.perf_counter() - wall_start,
            },
            "package_version": __version__,
        }
        return cls(
            env_id=family.env_id,
            family_key=family.key,
            descriptor_names=family.descriptor_names,
            observation_space=describe_space(observation_space),
            action_space=describe_space(action_space),
            task_ids=ids,
            descriptors=np.stack([family.descriptor(t) for t in ids]),
            tables=tables,
            provenance=provenance,
            training=training,
        )

    # ------------------------------------------------------------------ persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "descriptors": torch.from_numpy(np.ascontiguousarray(self.descriptors)),
            "tables": torch.from_numpy(np.ascontiguousarray(self.tables)),
        }

    def document(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "package_version": self.package_version,
            "env_id": self.env_id,
            "family_key": self.family_key,
            "descriptor_names": self.descriptor_names,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "task_ids": self.task_ids,
            "provenance": self.provenance,
            "training": self.training,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bank atomically as one safetensors file."""
        return artifacts.write(path, self.tensors(), self.document())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TableBank:
        """Read and validate a table bank; never unpickles.

        :raises ArtifactError: when the file is not a complete, consistent table bank
        """
        tensors, document = artifacts.read(path)
        return cls.from_parts(tensors, document, f"artifact {str(path)!r}")

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> TableBank:
        """Rebuild a bank from an artifact's tensors and document, validating both."""
        keys = [
            "kind", "env_id", "family_key", "descriptor_names", "observation_space",
            "action_space", "task_ids", "provenance", "training",
        ]  # fmt: skip
        artifacts.require(document, ["kind"], origin)
        if document["kind"] != KIND:
            raise ArtifactError(f"{origin} holds a {document['kind']!r}, not a {KIND!r}")
        artifacts.require(document, keys, origin)
        artifacts.require(tensors, ["descriptors", "tables"], origin)
        unexpected = sorted(set(tensors) - {"descriptors", "tables"})
        if unexpected:
            raise ArtifactError(f"{origin} has unexpected tensors {unexpected}")
        try:
            observation_space = space_from_description(document["observation_space"])
            action_space = space_from_description(document["action_space"])
            shape = (StateIndex(observation_space).n_states, int(action_space.n))  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ArtifactError(f"{origin} has invalid spaces: {error}") from error
        count, dim = len(document["task_ids"]), len(document["descriptor_names"])
        for name, dtype, expected in (
            ("descriptors", torch.float32, (count, dim)),
            ("tables", torch.float64, (count, *shape)),
        ):
            t = tensors[name]
            if t.dtype != dtype or tuple(t.shape) != expected:
                raise ArtifactError(
                    f"{origin}: {name} is {t.dtype} of shape {tuple(t.shape)}, expected "
                    f"{dtype} of shape {expected}"
                )
            if not torch.isfinite(t).all():
                raise ArtifactError(f"{origin}: tensor {name!r} holds NaN or inf")
        try:
            bank = cls(
                env_id=document["env_id"],
                family_key=document["family_key"],
                descriptor_names=document["descriptor_names"],
                observation_space=document["observation_space"],
                action_space=document["action_space"],
                task_ids=document["task_ids"],
                descriptors=tensors["descriptors"].numpy(),
                tables=tensors["tables"].numpy(),
                provenance=document["provenance"],
                training=document["training"],
            )
        except (TypeError, ValueError) as error:
            raise ArtifactError(f"{origin} is inconsistent: {error}") from error
        bank.package_version = str(document.get("package_version", "unknown"))
        return bank
