"""Meta-training: the alternating loop that builds a source bank and fits the mapping network.

Each round (DESIGN.md, steps 2-5):

1. take the round's share of the sampled train-split tasks;
2. start each task's Q-network from the shared initialization, or, with
   ``warm_start="yes"`` and from round 1 on, from the mapping network's output for its nearest source
   in the bank as the round began; train it on its task (a backend runs these jobs in
   parallel; each finished chunk is checkpointed at once);
3. fit the mapping network on pairs of bank sources for the round's share of mapper steps
   (function-space, TD and weight-space loss, see :mod:`sb3_metadqn.core.mapper_training`);
4. checkpoint the mapping network, its optimizer and the sampling state.

DQN sources that never reached ``min_source_return`` on their own task, or (with
``source_q_limit``) whose Q-values overshoot what their rewards allow, take no part (no
pair, no start of a later source, no place in the artifact). After ``rounds`` rounds the
fitted mapping network is kept only if it beats the identity map
(:mod:`sb3_metadqn.core.mapper_guard`: greedy-action agreement for oracle sources, greedy
return on validation tasks for DQN sources; else it is reset to the identity),
and ``keep_sources`` sources, chosen in greedy farthest-point order over their
descriptors, go into the artifact. A run killed at any point resumes from its checkpoint
directory with the same result it would have had without the interruption.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sb3_metadqn._version import __version__
from sb3_metadqn.core.backends import BackendName, check_backend
from sb3_metadqn.core.mapper_guard import (
    GUARD_EPISODES,
    agreement_guard,
    keep_or_reset,
    validation_guard,
)
from sb3_metadqn.core.mapper_training import (
    MapperTrainingConfig,
    PairData,
    fit_mapper,
    recent_mean,
)
from sb3_metadqn.core.meta_config import (
    MapperGuard,
    MetaTrainConfig,
    SourceStart,
    SourceTrainer,
    resolve_config,
)
from sb3_metadqn.core.meta_learner import MetaLearner
from sb3_metadqn.core.source_bank import SourceBank
from sb3_metadqn.core.source_chunks import (
    LazyBackend,
    bank_tensors,
    family_network,
    good_sources,
    shared_init,
    source_cpu_seconds,
    split_chunks,
    train_chunks,
)
from sb3_metadqn.core.source_training import SourceJob, SourceResult, to_numpy, to_torch
from sb3_metadqn.io.checkpoints import Checkpoint
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.mapping import MapperConfig, MappingNetwork
from sb3_metadqn.progress import Progress


def _coverage_subset(descriptors: torch.Tensor, keep: int) -> list[int]:
    """``keep`` sources spread over descriptor space (greedy farthest-point order)."""
    chosen = [0]
    distance = torch.linalg.vector_norm(descriptors - descriptors[0], dim=1)
    while len(chosen) < min(keep, len(descriptors)):
        nxt = int(distance.argmax())
        chosen.append(nxt)
        distance = torch.minimum(
            distance, torch.linalg.vector_norm(descriptors - descriptors[nxt], dim=1)
        )
    return sorted(chosen)


def meta_train(
    env_id: str,
    *,
    num_sources: int | None = None,
    rounds: int = 4,
    source_method: SourceTrainer = "auto",
    source_timesteps: int | None = None,
    chunk_size: int = 50,
    net_arch: tuple[int, ...] | list[int] = (64, 64),
    gamma: float = 0.99,
    mapper_steps: int = 6000,
    keep_sources: int | None = 64,
    seed: int = 0,
    mapper: MapperConfig | None = None,
    mapper_training: MapperTrainingConfig | None = None,
    dqn_kwargs: dict[str, Any] | None = None,
    task_ids: list[int] | None = None,
    warm_start: SourceStart = "auto",
    planner: bool | None = None,
    guard: MapperGuard = "auto",
    min_source_return: float = 0.5,
    guard_probe: tuple[int, int] | list[int] | None = None,
    guard_episodes: int = GUARD_EPISODES,
    source_q_limit: float | None = None,
    backend: BackendName = "local",
    num_workers: int | None = None,
    ray_address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress_bar: bool = False,
    verbose: int = 0,
) -> MetaLearner:
    """Meta-train a :class:`~sb3_metadqn.MetaLearner` on a family's train split.

    See :class:`MetaTrainConfig` for the training parameters (the arguments up to
    ``source_q_limit``); the others say where and how the run goes, not what it gives.

    :param backend: where sources train: ``"local"`` (a process pool), ``"serial"`` (this
        process) or ``"ray"``
    :param num_workers: processes of the local pool (None: one per core)
    :param ray_address: address of an existing Ray cluster (None: a local Ray)
    :param checkpoint_dir: every finished chunk of sources and every round is saved there,
        and a rerun with the same arguments resumes
    :param progress_bar: show a bar per phase on stderr: each round's sources
        (``sources round k/K``) and mapping network fit (``mapper round k/K``), then the
        guard (``mapper guard``)
    :param verbose: 1 prints each round's summary (sources, steps, mean losses)
    """
    check_backend(backend, num_workers, ray_address)
    config = MetaTrainConfig(
        env_id=env_id,
        num_sources=num_sources,
        rounds=rounds,
        source_method=source_method,
        source_timesteps=source_timesteps,
        chunk_size=chunk_size,
        net_arch=tuple(net_arch),
        gamma=gamma,
        mapper_steps=mapper_steps,
        keep_sources=keep_sources,
        seed=seed,
        mapper=mapper or MapperConfig(),
        mapper_training=mapper_training or MapperTrainingConfig(),
        dqn_kwargs=dict(dqn_kwargs or {}),
        task_ids=None if task_ids is None else tuple(int(t) for t in task_ids),
        warm_start=warm_start,
        planner=planner,
        guard=guard,
        min_source_return=min_source_return,
        guard_probe=tuple(guard_probe) if isinstance(guard_probe, (tuple, list)) else guard_probe,
        guard_episodes=guard_episodes,
        source_q_limit=source_q_limit,
    )
    config, family = resolve_config(config)
    checkpoint = Checkpoint(
        None if checkpoint_dir is None else Path(checkpoint_dir), config.to_dict()
    )
    wall_start = time.perf_counter()
    arch, spaces_doc = family_network(family, config.net_arch)

    def usable(results: list[SourceResult]) -> list[SourceResult]:
        return good_sources(
            results,
            family,
            config.min_source_return,
            q_limit=config.source_q_limit,
            activation=arch.activation_module(),
            gamma=config.gamma,
        )

    if config.task_ids is not None:
        tasks = list(config.task_ids)
    else:
        assert config.num_sources is not None
        tasks = [
            int(t)
            for t in family.sample_task_ids(config.num_sources, split="train", rng=config.seed)
        ]
    init = shared_init(arch, config.seed)
    mapper_net = MappingNetwork(arch, len(family.descriptor_names), config.mapper)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.Adam(mapper_net.parameters(), lr=config.mapper_training.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    state = checkpoint.load_training(mapper_net, optimizer, generator)
    rounds_done = 0 if state is None else int(state["round"]) + 1
    history: list[dict[str, Any]] = [] if state is None else list(state["history"])
    mapper_seconds = 0.0 if state is None else float(state["mapper_cpu_seconds"])

    per_round = np.array_split(np.array(tasks), config.rounds)
    steps_per_round = np.array_split(np.arange(config.mapper_steps), config.rounds)
    bank: list[SourceResult] = []
    runner = LazyBackend(backend, num_workers, ray_address)
    progress = Progress(progress_bar)
    try:
        for round_index, round_tasks in enumerate(per_round):
            of_rounds = f"round {round_index + 1}/{config.rounds}"
            # Start parameters come from the bank as it stood when the round began, so a resumed
            # round starts its remaining chunks exactly as the uninterrupted run did.
            start_of = _SourceStart(
                usable(bank) if config.warm_start == "yes" else [],
                family,
                mapper_net,
                init,
            )

            def make_job(chunk: tuple[int, ...], start_of: _SourceStart = start_of) -> SourceJob:
                return SourceJob(
                    env_id=config.env_id, task_ids=chunk, init=tuple(start_of(t) for t in chunk),
                    arch=arch, trainer=config.source_method, seed=config.seed,
                    gamma=config.gamma, timesteps=int(config.source_timesteps or 0),
                    dqn_kwargs=config.dqn_kwargs,
                )  # fmt: skip

            with progress.phase(f"sources {of_rounds}", len(round_tasks), unit="source") as bar:
                bank.extend(
                    train_chunks(
                        split_chunks(round_tasks.tolist(), config.chunk_size),
                        make_job,
                        checkpoint,
                        round_index,
                        runner,
                        len(arch.layer_shapes),
                        bar.update,
                    )
                )
            if round_index < rounds_done:
                continue
            steps = len(steps_per_round[round_index])
            if steps and len(bank) >= 2:
                start = time.process_time()
                with progress.phase(f"mapper {of_rounds}", steps, unit="step") as bar:
                    descriptors, layers, data = bank_tensors(usable(bank), family)
                    pairs = PairData.build(
                        descriptors,
                        layers,
                        data,
                        arch.activation_module(),
                        config.gamma,
                        config.mapper_training.neighbours,
                    )
                    losses = fit_mapper(
                        mapper_net,
                        optimizer,
                        pairs,
                        steps,
                        config.mapper_training,
                        generator,
                        bar.update,
                    )
                mapper_seconds += time.process_time() - start
                summary = {k: recent_mean(losses, k) for k in losses[-1]}
                history.append(
                    {"round": round_index, "sources": len(bank), "steps": steps, **summary}
                )
                if verbose:
                    progress.write(f"meta-train round {round_index}: {history[-1]}")
            checkpoint.save_training(
                round_index,
                mapper_net,
                optimizer,
                generator,
                {"history": history, "mapper_cpu_seconds": mapper_seconds},
            )
    finally:
        runner.close()

    source_seconds = source_cpu_seconds(bank)
    returned = good_sources(bank, family, config.min_source_return)
    good = usable(bank)
    descriptors, layers, data = bank_tensors(good, family)
    keep = (
        list(range(len(good)))
        if config.keep_sources is None
        else _coverage_subset(descriptors, config.keep_sources)
    )
    if config.guard == "agreement":
        with progress.phase("mapper guard (greedy-action agreement)", 1) as bar:
            figures = agreement_guard(mapper_net, descriptors, layers, data, arch, config.gamma)
            bar.update(1)
    else:
        kept_layers = qnet.index(layers, torch.tensor(keep))
        tasks_total = len(family.validation_task_ids)
        with progress.phase("mapper guard (validation tasks)", tasks_total, unit="task") as bar:
            figures = validation_guard(
                mapper_net,
                descriptors[keep],
                kept_layers,
                family,
                arch,
                bar.update,
                probe=config.guard_probe,
                episodes=config.guard_episodes,
            )
    selection = keep_or_reset(mapper_net, figures)
    training = {
        "config": config.to_dict(),
        "history": history,
        "cost": {
            "source_cpu_seconds": source_seconds,
            "mapper_cpu_seconds": mapper_seconds,
            "core_seconds": source_seconds + mapper_seconds,
            "wall_seconds_last_session": time.perf_counter() - wall_start,
        },
        "bank_sources": len(bank),
        "sources_below_min_return": len(bank) - len(returned),
        "mapper_selection": selection,
        "package_version": __version__,
    }
    if config.source_q_limit is not None:
        training["sources_above_q_limit"] = len(returned) - len(good)
    return MetaLearner(
        env_id=config.env_id,
        family_key=family.key,
        descriptor_names=list(family.descriptor_names),
        observation_space=spaces_doc[0],
        action_space=spaces_doc[1],
        arch=arch,
        mapper=mapper_net,
        bank=SourceBank(
            task_ids=[good[k].task_id for k in keep],
            descriptors=descriptors[keep],
            layers=qnet.index(layers, torch.tensor(keep)),
            provenance=[good[k].provenance for k in keep],
            shared_init=init,
        ),
        training=training,
    )


class _SourceStart:
    """Start parameters of new sources: the mapping network's output for the nearest source of a
    (snapshot of the) bank, or the shared initialization when the bank is empty."""

    def __init__(
        self,
        bank: list[SourceResult],
        family: Any,
        mapper: MappingNetwork,
        shared_init: qnet.Layers,
    ) -> None:
        self.bank, self.family, self.mapper = list(bank), family, mapper
        self.shared_init = to_numpy(shared_init)
        self.descriptors = (
            torch.as_tensor(np.stack([family.descriptor(r.task_id) for r in self.bank]))
            if self.bank
            else None
        )

    @torch.no_grad()
    def __call__(self, task_id: int) -> Any:
        if self.descriptors is None:
            return self.shared_init
        d = torch.as_tensor(self.family.descriptor(task_id)).unsqueeze(0)
        j = int(torch.linalg.vector_norm(self.descriptors - d, dim=1).argmin())
        source = qnet.stack([to_torch(self.bank[j].layers)])
        mapped = self.mapper(d, self.descriptors[j : j + 1], source)
        return to_numpy(qnet.index(mapped, 0))
