"""Training the sources of a bank in chunks: chunks of tasks trained as jobs on a backend, each
finished chunk checkpointed at once, and the run directory that makes a rerun resume.

Meta-training (:mod:`sb3_metadqn.core.meta_training`), Reptile and the hypernetwork baseline all
train sources this way, so they share one checkpoint layout and one cost accounting.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.preprocessing import get_flattened_obs_dim

from sb3_metadqn.core.backends import Backend, check_backend, make_backend
from sb3_metadqn.core.source_training import SourceJob, SourceResult, to_torch, train_sources
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.checkpoints import Checkpoint
from sb3_metadqn.io.spaces import describe_space
from sb3_metadqn.nets import qnet

#: Names of data arrays in chunk checkpoints where they differ from the attribute (files
#: written before the fit states were renamed from "probe" states keep resuming).
STORED_KEYS = {"fit_obs": "probe_obs", "fit_mask": "probe_mask"}
#: The per-task data arrays of a :class:`SourceResult`.
DATA_KEYS = (
    "fit_obs",
    "fit_mask",
    "obs",
    "action",
    "reward",
    "next_obs",
    "terminated",
    "transition_mask",
)


def _chunk_name(round_index: int, chunk: int) -> str:
    return f"sources/round{round_index:03d}_chunk{chunk:04d}"


def save_chunk(
    checkpoint: Checkpoint, round_index: int, chunk: int, results: list[SourceResult]
) -> None:
    """Checkpoint a finished chunk of sources (nothing without a checkpoint directory)."""
    if checkpoint.directory is None:
        return
    tensors: dict[str, torch.Tensor] = {}
    for k, r in enumerate(results):
        for layer, (w, b) in enumerate(r.layers):
            tensors[f"{k}.layer{layer}.weight"] = torch.as_tensor(w)
            tensors[f"{k}.layer{layer}.bias"] = torch.as_tensor(b)
        for key in DATA_KEYS:
            value = np.asarray(getattr(r, key))
            tensors[f"{k}.{STORED_KEYS.get(key, key)}"] = torch.tensor(
                value.astype(np.uint8) if value.dtype == bool else value
            )
    document = {
        "kind": "source-chunk",
        "task_ids": [r.task_id for r in results],
        "provenance": [r.provenance for r in results],
    }
    checkpoint.save(_chunk_name(round_index, chunk), tensors, document)


def load_chunk(
    checkpoint: Checkpoint, round_index: int, chunk: int, num_layers: int
) -> list[SourceResult] | None:
    """The sources of a chunk a previous run finished (None: not checkpointed)."""
    saved = checkpoint.load(_chunk_name(round_index, chunk))
    if saved is None:
        return None
    tensors, document = saved
    origin = str(checkpoint.path(_chunk_name(round_index, chunk)))
    artifacts.check_fields(document, {"task_ids": list, "provenance": list}, origin)
    if len(document["task_ids"]) != len(document["provenance"]) or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in document["task_ids"]
    ):
        raise ArtifactError(f"{origin}: 'task_ids' must be ints, one per provenance record")
    expected = {
        f"{k}.{name}"
        for k in range(len(document["task_ids"]))
        for name in (
            *(f"layer{layer}.{part}" for layer in range(num_layers) for part in ("weight", "bias")),
            *(STORED_KEYS.get(key, key) for key in DATA_KEYS),
        )
    }
    if set(tensors) != expected:
        raise ArtifactError(
            f"{origin}: tensors {sorted(set(tensors) ^ expected)[:4]} are missing or unexpected"
        )
    results = []
    for k, (task_id, provenance) in enumerate(
        zip(document["task_ids"], document["provenance"], strict=True)
    ):
        data = {key: tensors[f"{k}.{STORED_KEYS.get(key, key)}"].numpy() for key in DATA_KEYS}
        for key in ("fit_mask", "transition_mask"):
            data[key] = data[key].astype(bool)
        layers = [
            (
                tensors[f"{k}.layer{layer}.weight"].numpy(),
                tensors[f"{k}.layer{layer}.bias"].numpy(),
            )
            for layer in range(num_layers)
        ]
        results.append(SourceResult(task_id=task_id, layers=layers, provenance=provenance, **data))
    return results


class LazyBackend:
    """A backend created on first use (a fully resumed run starts no worker pool)."""

    def __init__(
        self, name: str, num_workers: int | None = None, address: str | None = None
    ) -> None:
        check_backend(name, num_workers, address)
        self.name, self.num_workers, self.address = name, num_workers, address
        self._backend: Backend | None = None

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self._backend is None:
            self._backend = make_backend(self.name, self.num_workers, self.address)
        return self._backend.run(fn, jobs)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def train_chunks(
    chunks: Sequence[tuple[int, ...]],
    make_job: Callable[[tuple[int, ...]], SourceJob],
    checkpoint: Checkpoint,
    round_index: int,
    runner: LazyBackend,
    num_layers: int,
    on_chunk: Callable[[int], None] | None = None,
) -> list[SourceResult]:
    """Every chunk's sources, in chunk order: read from the checkpoint where a previous run
    finished them, trained by ``runner`` otherwise (each checkpointed as it finishes).

    :param on_chunk: called with the number of sources of every chunk done (progress bars)
    """
    done: dict[int, list[SourceResult]] = {}
    jobs: list[tuple[int, SourceJob]] = []
    for c, chunk in enumerate(chunks):
        try:
            saved = load_chunk(checkpoint, round_index, c, num_layers)
        except ArtifactError as error:  # sources are deterministic: recomputing is exact
            warnings.warn(f"recomputing a corrupt chunk of sources: {error}", stacklevel=2)
            saved = None
        if saved is not None:
            done[c] = saved
            if on_chunk is not None:
                on_chunk(len(saved))
        else:
            jobs.append((c, make_job(chunk)))
    if jobs:
        for index, results in runner.run(train_sources, [job for _, job in jobs]):
            c = jobs[index][0]
            save_chunk(checkpoint, round_index, c, results)
            done[c] = results
            if on_chunk is not None:
                on_chunk(len(results))
    return [result for c in sorted(done) for result in done[c]]


def split_chunks(task_ids: Sequence[int], chunk_size: int) -> list[tuple[int, ...]]:
    """Consecutive chunks of at most ``chunk_size`` tasks, as even as possible."""
    count = max(1, int(np.ceil(len(task_ids) / chunk_size)))
    return [tuple(int(t) for t in c) for c in np.array_split(np.array(task_ids), count) if len(c)]


def family_network(family: Any, net_arch: Sequence[int]) -> tuple[qnet.Architecture, Any]:
    """The Q-network architecture of a family's tasks, and ``(observation, action)`` space
    descriptions."""
    env = family.make(family.train_task_ids[0])
    arch = qnet.Architecture(
        int(get_flattened_obs_dim(env.observation_space)),
        tuple(int(n) for n in net_arch),
        int(env.action_space.n),
    )
    spaces_doc = (describe_space(env.observation_space), describe_space(env.action_space))
    env.close()
    return arch, spaces_doc


def shared_init(arch: qnet.Architecture, seed: int) -> qnet.Layers:
    """PyTorch's default ``nn.Linear`` initialization, drawn from ``seed``."""
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(i, o) for o, i in arch.layer_shapes]
    return [(m.weight.detach().clone(), m.bias.detach().clone()) for m in layers]


def bank_tensors(
    results: list[SourceResult], family: Any
) -> tuple[torch.Tensor, qnet.Layers, dict[str, torch.Tensor]]:
    """Descriptors ``(T, D)``, batched layers and stacked data of a list of sources."""
    descriptors = torch.as_tensor(np.stack([family.descriptor(r.task_id) for r in results]))
    layers = qnet.stack([to_torch(r.layers) for r in results])
    data = {}
    for key in DATA_KEYS:
        arrays = [np.asarray(getattr(r, key)) for r in results]
        data[key] = torch.as_tensor(np.stack(arrays))
    return descriptors, layers, data


def source_cpu_seconds(results: list[SourceResult]) -> float:
    """CPU seconds the sources' training took, summed (as their provenance records it)."""
    return float(sum(r.provenance.get("cpu_seconds", 0.0) for r in results))


def source_return(result: SourceResult, family: Any) -> float:
    """A source's best normalized greedy return on its own task, as measured when its
    checkpoint was selected (1.0 for oracle sources, which are exact)."""
    returns = result.provenance.get("eval_returns")
    if not returns:
        return 1.0
    return float(family.normalized_return(result.task_id, max(returns)))


def source_q_ratio(result: SourceResult, activation: torch.nn.Module, gamma: float) -> float:
    """How far a DQN source's Q-values overshoot what its rewards allow: the largest
    ``|max_a Q(s, a)|`` over its own fit states divided by ``max |r| / (1 - gamma)``, ``r``
    over its own transitions (0.0 for oracle sources, which are exact; inf when every reward
    is 0 and a Q-value is not)."""
    if result.provenance.get("method") != "dqn":
        return 0.0
    layers = qnet.stack([to_torch(result.layers)])
    fit_obs = torch.as_tensor(np.asarray(result.fit_obs)).unsqueeze(0)
    with torch.no_grad():
        greedy = qnet.batched_forward(layers, fit_obs, activation)[0].max(-1).values
    greedy = greedy[torch.as_tensor(np.asarray(result.fit_mask, dtype=bool))]
    rewards = np.asarray(result.reward)[np.asarray(result.transition_mask, dtype=bool)]
    largest_q = float(greedy.abs().max()) if len(greedy) else 0.0
    bound = float(np.abs(rewards).max()) / (1.0 - gamma) if len(rewards) else 0.0
    if bound == 0.0:
        return 0.0 if largest_q == 0.0 else float("inf")
    return largest_q / bound


def good_sources(
    results: list[SourceResult],
    family: Any,
    minimum: float,
    *,
    q_limit: float | None = None,
    activation: torch.nn.Module | None = None,
    gamma: float = 0.99,
) -> list[SourceResult]:
    """The sources whose :func:`source_return` is at least ``minimum`` and, with a
    ``q_limit``, whose :func:`source_q_ratio` is at most ``q_limit`` (``activation``: the
    Q-network's); each test is dropped when fewer than two sources would pass it."""
    good = [r for r in results if source_return(r, family) >= minimum]
    good = good if len(good) >= 2 else list(results)
    if q_limit is None:
        return good
    if activation is None:
        raise ValueError("q_limit needs the Q-network's activation (activation=None)")
    bounded = [r for r in good if source_q_ratio(r, activation, gamma) <= q_limit]
    return bounded if len(bounded) >= 2 else good
