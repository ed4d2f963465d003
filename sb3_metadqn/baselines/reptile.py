"""Reptile initialization: one set of Q-network parameters meta-learned over a family's train
split (first-order meta-learning; Nichol, Achiam and Schulman, 2018).

Each iteration samples ``meta_batch_size`` train-split tasks, trains a copy of theta_0 on
each for ``inner_steps`` with the source trainers meta-training uses (regression on the exact
discounted Q* for families with an oracle, SB3 DQN for the others), and moves theta_0 towards
their mean:

    theta_0 <- theta_0 + eps_k (mean_i theta_i - theta_0),  eps_k = outer_step_size (1 - k / K)

The result initializes a :class:`~sb3_metadqn.WarmStartDQN` for any task of the family; it
knows nothing of the task, so its value is in how fast DQN adapts from it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gym_metatasks
from sb3_metadqn._checks import check_config, check_value
from sb3_metadqn.core.backends import BackendName, check_backend
from sb3_metadqn.core.initializer import Initializer, check_train_tasks
from sb3_metadqn.core.meta_config import SourceTrainer
from sb3_metadqn.core.source_chunks import (
    LazyBackend,
    family_network,
    shared_init,
    source_cpu_seconds,
)
from sb3_metadqn.core.source_training import SourceJob, to_numpy, to_torch, train_sources
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.checkpoints import Checkpoint
from sb3_metadqn.nets import qnet
from sb3_metadqn.progress import Progress

#: Inner-loop length per source trainer: Adam steps of Q* regression, or DQN env steps.
DEFAULT_INNER_STEPS = {"oracle": 32, "dqn": 5_000}
STATE_NAME = "reptile_state"


@dataclass(frozen=True)
class ReptileConfig:
    """Everything that determines a Reptile run's result (recorded in the artifact).

    :param env_id: registered family id
    :param iterations: outer (meta) iterations K
    :param meta_batch_size: tasks per iteration
    :param inner_method: ``"oracle"`` (exact-oracle families), ``"dqn"``, or ``"auto"``
    :param inner_steps: per task and iteration: regression steps (oracle) or DQN env steps;
        None: 32 resp. 5,000
    :param outer_step_size: eps at the first iteration, annealed linearly to 0
    :param net_arch: hidden layers of the Q-network (SB3 ``MlpPolicy`` default: 64, 64)
    :param gamma: discount
    :param seed: seed of task sampling and of theta_0's starting point
    :param task_ids: train-split tasks to sample from (None: the whole train split)
    :param dqn_kwargs: ``DQN`` arguments of the inner loop (``"dqn"`` only)
    """

    env_id: str
    iterations: int = 500
    meta_batch_size: int = 8
    inner_method: SourceTrainer = "auto"
    inner_steps: int | None = None
    outer_step_size: float = 1.0
    net_arch: tuple[int, ...] = (64, 64)
    gamma: float = 0.99
    seed: int = 0
    task_ids: tuple[int, ...] | None = None
    dqn_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["net_arch"] = list(self.net_arch)
        data["task_ids"] = None if self.task_ids is None else list(self.task_ids)
        return data

    def resolve(self) -> tuple[ReptileConfig, Any]:
        """Validate against the family and fill in the ``auto`` choices."""
        try:
            family = gym_metatasks.family(self.env_id)
        except (ValueError, TypeError) as error:
            raise ValueError(f"env_id: {error}") from error
        check_config(self)
        method = self.inner_method
        if method == "auto":
            method = "oracle" if family.oracle == "exact" else "dqn"
        if method not in ("oracle", "dqn"):
            raise ValueError(
                f"inner_method must be 'auto', 'oracle' or 'dqn', got {self.inner_method!r}"
            )
        if method == "oracle" and family.oracle != "exact":
            raise ValueError(f"inner_method='oracle' needs an exact oracle; {self.env_id} has none")
        task_ids = self.task_ids
        if task_ids is not None:
            if not task_ids:
                raise ValueError("task_ids must name at least one train-split task")
            task_ids = tuple(check_train_tasks(family, task_ids))
        resolved = replace(
            self,
            inner_method=method,
            inner_steps=self.inner_steps or DEFAULT_INNER_STEPS[method],
            task_ids=task_ids,
            net_arch=tuple(int(n) for n in self.net_arch),
        )
        return resolved, family


class ReptileInit(Initializer):
    """One meta-learned initialization theta_0 for every task of a family.

    :param layers: theta_0 (unbatched ``[(W, b), ...]``)
    :param common: the :class:`~sb3_metadqn.Initializer` arguments
    """

    kind = "reptile-init"

    def __init__(self, *, layers: qnet.Layers, **common: Any) -> None:
        super().__init__(**common)
        for k, ((w, b), (out_dim, in_dim)) in enumerate(
            zip(layers, self.arch.layer_shapes, strict=True)
        ):
            if tuple(w.shape) != (out_dim, in_dim) or tuple(b.shape) != (out_dim,):
                raise ValueError(
                    f"layer {k} has shapes {tuple(w.shape)}, {tuple(b.shape)}; the architecture "
                    f"needs {(out_dim, in_dim)}, {(out_dim,)}"
                )
        self.layers = [(w.float(), b.float()) for w, b in layers]

    def initial_parameters(
        self,
        descriptor: Any,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, dict[str, Any]]:
        """theta_0, whatever the task (the descriptor is only checked)."""
        self.check_descriptor(descriptor)
        return [(w.clone(), b.clone()) for w, b in self.layers], {"selection": "reptile"}

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for k, (w, b) in enumerate(self.layers):
            out[f"layers.{k}.weight"], out[f"layers.{k}.bias"] = w, b
        return out

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> ReptileInit:
        common = cls.common_fields(tensors, document, origin)
        count = len(common["arch"].layer_shapes)
        names = [f"layers.{k}.{p}" for k in range(count) for p in ("weight", "bias")]
        artifacts.require(tensors, names, origin)
        layers = [
            (tensors[f"layers.{k}.weight"], tensors[f"layers.{k}.bias"]) for k in range(count)
        ]
        try:
            return cls(layers=layers, **common)
        except ValueError as error:
            raise ArtifactError(f"{origin}: {error}") from error


def reptile_train(
    env_id: str,
    *,
    iterations: int = 500,
    meta_batch_size: int = 8,
    inner_method: SourceTrainer = "auto",
    inner_steps: int | None = None,
    outer_step_size: float = 1.0,
    net_arch: tuple[int, ...] | list[int] = (64, 64),
    gamma: float = 0.99,
    seed: int = 0,
    task_ids: list[int] | None = None,
    dqn_kwargs: dict[str, Any] | None = None,
    backend: BackendName = "serial",
    num_workers: int | None = None,
    ray_address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 50,
    progress_bar: bool = False,
    verbose: int = 0,
) -> ReptileInit:
    """Meta-train a :class:`ReptileInit` on a family's train split (see :class:`ReptileConfig`).

    ``backend`` runs the inner loops (``"serial"`` suits the oracle's batched regression;
    ``"local"`` or ``"ray"`` run DQN inner loops in parallel). With ``checkpoint_dir`` the
    state is saved every ``checkpoint_every`` iterations and a rerun with the same arguments
    resumes, with the result an uninterrupted run gives. ``progress_bar`` shows a bar of
    iterations on stderr; ``verbose=1`` prints the mean squared distance every 50.
    """
    config, family = ReptileConfig(
        env_id=env_id,
        iterations=iterations,
        meta_batch_size=meta_batch_size,
        inner_method=inner_method,
        inner_steps=inner_steps,
        outer_step_size=outer_step_size,
        net_arch=tuple(net_arch),
        gamma=gamma,
        seed=seed,
        task_ids=None if task_ids is None else tuple(task_ids),
        dqn_kwargs=dict(dqn_kwargs or {}),
    ).resolve()
    check_value("checkpoint_every", checkpoint_every)
    check_backend(backend, num_workers, ray_address)
    checkpoint = Checkpoint(
        None if checkpoint_dir is None else Path(checkpoint_dir), config.to_dict()
    )
    arch, spaces_doc = family_network(family, config.net_arch)
    pool = np.asarray(config.task_ids or family.train_task_ids, dtype=np.int64)
    theta = shared_init(arch, config.seed)
    rng = np.random.default_rng(config.seed)
    done, cost = 0, 0.0
    history: list[dict[str, Any]] = []
    saved = _load_state(checkpoint, len(arch.layer_shapes))
    if saved is not None:
        theta, rng.bit_generator.state, done, cost, history = saved
    runner = LazyBackend(backend, num_workers, ray_address)
    progress = Progress(progress_bar)
    phase = progress.phase("reptile iterations", config.iterations, initial=done)
    try:
        with phase as bar:
            for iteration in range(done, config.iterations):
                size = config.meta_batch_size
                batch = tuple(int(t) for t in rng.choice(pool, size, replace=len(pool) < size))
                jobs = _inner_jobs(config, arch, batch, to_numpy(theta), iteration)
                finished_jobs = sorted(runner.run(train_sources, jobs), key=lambda pair: pair[0])
                results = [result for _, chunk_results in finished_jobs for result in chunk_results]
                clock = time.process_time()
                adapted = qnet.stack([to_torch(r.layers) for r in results])
                moved = sum(
                    ((aw - w) ** 2).sum(dim=(1, 2)) + ((ab - b) ** 2).sum(dim=1)
                    for (w, b), (aw, ab) in zip(theta, adapted, strict=True)
                )
                distance = float(torch.as_tensor(moved).mean())
                step = config.outer_step_size * (1.0 - iteration / config.iterations)
                theta = [
                    (w + step * (aw.mean(0) - w), b + step * (ab.mean(0) - b))
                    for (w, b), (aw, ab) in zip(theta, adapted, strict=True)
                ]
                cost += source_cpu_seconds(results) + time.process_time() - clock
                history.append({"iteration": iteration, "step_size": step, "distance": distance})
                finished = iteration + 1
                if finished % checkpoint_every == 0 or finished == config.iterations:
                    _save_state(checkpoint, theta, rng, finished, cost, history)
                if verbose and (finished % 50 == 0 or finished == config.iterations):
                    progress.write(
                        f"reptile iteration {finished}: mean squared distance {distance:.4f}"
                    )
                bar.update(1)
    finally:
        runner.close()
    training = {
        "method": "reptile",
        "config": config.to_dict(),
        "history": history[-20:],
        "cost": {"core_seconds": cost, "inner_method": config.inner_method},
    }
    return ReptileInit(
        layers=theta,
        env_id=config.env_id,
        family_key=family.key,
        descriptor_names=list(family.descriptor_names),
        observation_space=spaces_doc[0],
        action_space=spaces_doc[1],
        arch=arch,
        training=training,
    )


def _inner_jobs(
    config: ReptileConfig,
    arch: qnet.Architecture,
    batch: tuple[int, ...],
    start: Any,
    iteration: int,
) -> list[SourceJob]:
    """The inner loops of one iteration: one job for the oracle's regression (batched over
    tasks), one job per task for DQN (so a backend runs them in parallel). DQN gets a new
    seed every iteration; the oracle's data is the same every time (and cached)."""
    oracle = config.inner_method == "oracle"
    chunks = [batch] if oracle else [(t,) for t in batch]
    return [
        SourceJob(
            env_id=config.env_id,
            task_ids=chunk,
            init=(start,) * len(chunk),
            arch=arch,
            trainer=config.inner_method,
            gamma=config.gamma,
            seed=config.seed if oracle else config.seed + iteration,
            timesteps=int(config.inner_steps or 0),
            dqn_kwargs=config.dqn_kwargs,
        )
        for chunk in chunks
    ]


def _save_state(
    checkpoint: Checkpoint,
    theta: qnet.Layers,
    rng: np.random.Generator,
    iterations_done: int,
    cost: float,
    history: list[dict[str, Any]],
) -> None:
    tensors = {}
    for k, (w, b) in enumerate(theta):
        tensors[f"theta.{k}.weight"], tensors[f"theta.{k}.bias"] = w, b
    document = {
        "kind": "reptile-state",
        "iterations_done": iterations_done,
        "rng": rng.bit_generator.state,
        "core_seconds": cost,
        "history": history,
    }
    checkpoint.save(STATE_NAME, tensors, document)


def _load_state(
    checkpoint: Checkpoint, num_layers: int
) -> tuple[qnet.Layers, dict[str, Any], int, float, list[dict[str, Any]]] | None:
    saved = checkpoint.load(STATE_NAME)
    if saved is None:
        return None
    tensors, document = saved
    theta = [(tensors[f"theta.{k}.weight"], tensors[f"theta.{k}.bias"]) for k in range(num_layers)]
    return (
        theta,
        document["rng"],
        int(document["iterations_done"]),
        float(document["core_seconds"]),
        list(document["history"]),
    )
