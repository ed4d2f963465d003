"""Meta-training: the alternating loop that builds a source bank and fits the mapping network.

Each round (DESIGN.md, steps 2-5):

1. take the round's share of the sampled train-split tasks;
2. start each task's Q-network from the mapper's output for its nearest source already in
   the bank (the shared initialization in round 0), and train it on its task (a backend runs
   these jobs in parallel; each finished chunk is checkpointed at once);
3. fit the mapping network on pairs of bank sources for the round's share of mapper steps
   (function-space, TD and weight-space loss, see :mod:`sb3_metadqn.core.mapper_training`);
4. checkpoint the mapper, its optimizer and the sampling state.

It stops after ``rounds`` rounds. A run killed at any point resumes from its checkpoint
directory with the same result it would have had without the interruption.
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
from sb3_metadqn._version import __version__
from sb3_metadqn.core.initializer import check_train_tasks
from sb3_metadqn.core.mapper_training import (
    MapperTrainingConfig,
    PairData,
    fit_mapper,
    greedy_agreement,
    recent_mean,
)
from sb3_metadqn.core.meta_learner import MetaLearner
from sb3_metadqn.core.source_bank import SourceBank
from sb3_metadqn.core.source_chunks import (
    LazyBackend,
    bank_tensors,
    family_network,
    shared_init,
    source_cpu_seconds,
    split_chunks,
    train_chunks,
)
from sb3_metadqn.core.source_training import SourceJob, SourceResult, to_numpy, to_torch
from sb3_metadqn.io.checkpoints import Checkpoint
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.mapping import MapperConfig, MappingNetwork

#: DQN settings for sources of families without an exact oracle (SB3 zoo's CartPole-style
#: settings; 64x64 network so that MetaDQN's default MlpPolicy can use the result).
SOURCE_DQN_KWARGS: dict[str, Any] = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1000,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
}


@dataclass(frozen=True)
class MetaTrainConfig:
    """Everything that determines a meta-training run's result (recorded in the artifact).

    :param env_id: registered family id
    :param num_sources: train-split tasks that get a trained source (None: every one; the
        validation split is left out unless ``task_ids`` names its tasks)
    :param rounds: alternations of source training and mapper fitting
    :param source_method: ``"oracle"`` (exact-oracle families only), ``"dqn"``, or
        ``"auto"`` (oracle where there is one)
    :param source_timesteps: DQN steps per source, or regression steps for ``"oracle"``
    :param chunk_size: sources per job (the unit of parallelism and checkpointing)
    :param net_arch: hidden layers of the Q-network (SB3 ``MlpPolicy`` default: 64, 64)
    :param gamma: discount
    :param mapper_steps: total mapper optimizer steps (split evenly over rounds)
    :param keep_sources: sources kept in the artifact (spread over descriptor space by a
        greedy farthest-point order); None keeps all
    :param seed: seed of task sampling, shared initialization, sources and mapper
    :param planner: give the mapping network the value-iteration planner over the grid
        descriptor (:mod:`sb3_metadqn.nets.planner`): ``True`` (grid families with one-hot
        cell observations only), ``False``, or ``None``: on where the family allows it and
        the sources come from the oracle
    :param warm_start: start later rounds' sources from the mapper's output (``"yes"``),
        from the shared initialization (``"no"``), or ``"auto"``: yes for DQN sources (it
        saves DQN steps), no for oracle regression (which reaches Q* from any start, and
        whose bank then stays one step from the shared origin)
    """

    env_id: str
    num_sources: int | None = None
    rounds: int = 4
    source_method: str = "auto"
    source_timesteps: int | None = None
    chunk_size: int = 50
    net_arch: tuple[int, ...] = (64, 64)
    gamma: float = 0.99
    mapper_steps: int = 6000
    keep_sources: int | None = 64
    seed: int = 0
    mapper: MapperConfig = field(default_factory=MapperConfig)
    mapper_training: MapperTrainingConfig = field(default_factory=MapperTrainingConfig)
    dqn_kwargs: dict[str, Any] = field(default_factory=dict)
    task_ids: tuple[int, ...] | None = None
    warm_start: str = "auto"
    planner: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["net_arch"] = list(self.net_arch)
        data["task_ids"] = None if self.task_ids is None else list(self.task_ids)
        return data


def resolve_config(config: MetaTrainConfig) -> tuple[MetaTrainConfig, Any]:
    """Validate a configuration against its family and fill in the ``auto`` choices."""
    try:
        family = gym_metatasks.family(config.env_id)
    except (ValueError, TypeError) as error:
        raise ValueError(f"env_id: {error}") from error
    train = family.train_task_ids
    if config.num_sources is None and config.task_ids is None:
        config = replace(config, num_sources=len(train))
    for name in ("num_sources", "rounds", "chunk_size", "mapper_steps"):
        value = getattr(config, name)
        if value is None and name == "num_sources":
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < (0 if name == "mapper_steps" else 1)
        ):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    method = config.source_method
    if method == "auto":
        method = "oracle" if family.oracle == "exact" else "dqn"
    if method not in ("oracle", "dqn"):
        raise ValueError(
            f"source_method must be 'auto', 'oracle' or 'dqn', got {config.source_method!r}"
        )
    if method == "oracle" and family.oracle != "exact":
        raise ValueError(f"source_method='oracle' needs an exact oracle; {config.env_id} has none")
    if config.task_ids is not None:
        ids = check_train_tasks(family, config.task_ids)
        if len(ids) != config.num_sources:
            config = replace(config, num_sources=len(ids))
    assert config.num_sources is not None
    if config.num_sources > len(train):
        raise ValueError(
            f"num_sources must be <= {len(train)} (the train split), got {config.num_sources}"
        )
    if config.num_sources < 2:
        raise ValueError(
            f"num_sources must be >= 2 (mapper pairs need two sources), got {config.num_sources}"
        )
    timesteps = config.source_timesteps or (600 if method == "oracle" else 50_000)
    mapper = _resolve_planner(config, family, method)
    if config.warm_start not in ("auto", "yes", "no"):
        raise ValueError(f"warm_start must be 'auto', 'yes' or 'no', got {config.warm_start!r}")
    warm_start = config.warm_start
    if warm_start == "auto":
        warm_start = "yes" if method == "dqn" else "no"
    dqn_kwargs = config.dqn_kwargs or (dict(SOURCE_DQN_KWARGS) if method == "dqn" else {})
    resolved = replace(
        config,
        source_method=method,
        source_timesteps=timesteps,
        mapper=mapper,
        dqn_kwargs=dqn_kwargs,
        warm_start=warm_start,
        planner=mapper.grid_size is not None,
    )
    return resolved, family


def _resolve_planner(config: MetaTrainConfig, family: Any, method: str) -> MapperConfig:
    """The mapper configuration with the planner switched as ``config.planner`` asks."""
    if config.planner not in (None, True, False):
        raise ValueError(f"planner must be True, False or None, got {config.planner!r}")
    grid = getattr(family, "size", None) if hasattr(family, "model") else None
    mapper = config.mapper
    if config.planner is False:
        return replace(mapper, grid_size=None)
    if config.planner is True and grid is None:
        raise ValueError(
            f"planner=True needs a grid family (MetaNav, MetaFrozenLake); {config.env_id} has "
            "no grid descriptor: pass planner=False or None"
        )
    if mapper.grid_size is None and grid is not None and (config.planner or method == "oracle"):
        return replace(mapper, grid_size=grid)
    return mapper


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
    source_method: str = "auto",
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
    warm_start: str = "auto",
    planner: bool | None = None,
    backend: str = "local",
    num_workers: int | None = None,
    ray_address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress_bar: bool = False,
    verbose: int = 0,
) -> MetaLearner:
    """Meta-train a :class:`~sb3_metadqn.MetaLearner` on a family's train split.

    See :class:`MetaTrainConfig` for the training parameters. ``backend`` is ``"local"``
    (process pool of ``num_workers``), ``"serial"`` or ``"ray"`` (``ray_address`` of an
    existing cluster, or a local Ray). With ``checkpoint_dir`` every finished chunk of sources
    and every round is saved there, and a rerun with the same arguments resumes.
    """
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
    )
    config, family = resolve_config(config)
    checkpoint = Checkpoint(
        None if checkpoint_dir is None else Path(checkpoint_dir), config.to_dict()
    )
    wall_start = time.perf_counter()
    arch, spaces_doc = family_network(family, config.net_arch)
    if config.task_ids is not None:
        tasks = list(config.task_ids)
    else:
        assert config.num_sources is not None
        tasks = [
            int(t)
            for t in family.sample_task_ids(config.num_sources, split="train", rng=config.seed)
        ]
    init = shared_init(arch, config.seed)
    mapping = MappingNetwork(arch, len(family.descriptor_names), config.mapper)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.Adam(mapping.parameters(), lr=config.mapper_training.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    state = checkpoint.load_training(mapping, optimizer, generator)
    rounds_done = 0 if state is None else int(state["round"]) + 1
    history: list[dict[str, Any]] = [] if state is None else list(state["history"])
    mapper_seconds = 0.0 if state is None else float(state["mapper_cpu_seconds"])

    per_round = np.array_split(np.array(tasks), config.rounds)
    steps_per_round = np.array_split(np.arange(config.mapper_steps), config.rounds)
    bank: list[SourceResult] = []
    runner = LazyBackend(backend, num_workers, ray_address)
    progress = _progress(progress_bar, config)
    try:
        for round_index, round_tasks in enumerate(per_round):
            # Warm starts come from the bank as it stood when the round began, so a resumed
            # round starts its remaining chunks exactly as the uninterrupted run did.
            warm = _WarmStart(bank if config.warm_start == "yes" else [], family, mapping, init)

            def make_job(chunk: tuple[int, ...], warm: _WarmStart = warm) -> SourceJob:
                return SourceJob(
                    env_id=config.env_id, task_ids=chunk, init=tuple(warm(t) for t in chunk),
                    arch=arch, method=config.source_method, seed=config.seed,
                    gamma=config.gamma, timesteps=int(config.source_timesteps or 0),
                    dqn_kwargs=config.dqn_kwargs,
                )  # fmt: skip

            bank.extend(
                train_chunks(
                    split_chunks(round_tasks.tolist(), config.chunk_size),
                    make_job,
                    checkpoint,
                    round_index,
                    runner,
                    len(arch.layer_shapes),
                    None if progress is None else progress.update,
                )
            )
            if round_index < rounds_done:
                continue
            steps = len(steps_per_round[round_index])
            if steps and len(bank) >= 2:
                start = time.process_time()
                descriptors, layers, data = bank_tensors(bank, family)
                pairs = PairData.build(
                    descriptors,
                    layers,
                    data,
                    arch.activation_module(),
                    config.gamma,
                    config.mapper_training.neighbours,
                )
                losses = fit_mapper(
                    mapping, optimizer, pairs, steps, config.mapper_training, generator
                )
                mapper_seconds += time.process_time() - start
                summary = {k: recent_mean(losses, k) for k in losses[-1]}
                history.append(
                    {"round": round_index, "sources": len(bank), "steps": steps, **summary}
                )
                if verbose:
                    print(f"meta-train round {round_index}: {history[-1]}")
            checkpoint.save_training(
                round_index,
                mapping,
                optimizer,
                generator,
                {"history": history, "mapper_cpu_seconds": mapper_seconds},
            )
    finally:
        runner.close()
        if progress is not None:
            progress.close()

    source_seconds = source_cpu_seconds(bank)
    descriptors, layers, data = bank_tensors(bank, family)
    selection = _guard_identity(mapping, descriptors, layers, data, arch, config)
    keep = (
        list(range(len(bank)))
        if config.keep_sources is None
        else _coverage_subset(descriptors, config.keep_sources)
    )
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
        "mapper_selection": selection,
        "package_version": __version__,
    }
    return MetaLearner(
        env_id=config.env_id,
        family_key=family.key,
        descriptor_names=list(family.descriptor_names),
        observation_space=spaces_doc[0],
        action_space=spaces_doc[1],
        arch=arch,
        mapper=mapping,
        bank=SourceBank(
            task_ids=[bank[k].task_id for k in keep],
            descriptors=descriptors[keep],
            layers=qnet.index(layers, torch.tensor(keep)),
            provenance=[bank[k].provenance for k in keep],
            shared_init=init,
        ),
        training=training,
    )


def _guard_identity(
    mapping: MappingNetwork,
    descriptors: torch.Tensor,
    layers: qnet.Layers,
    data: dict[str, torch.Tensor],
    arch: qnet.Architecture,
    config: MetaTrainConfig,
) -> dict[str, Any]:
    """Keep the fitted mapper only if it beats the identity map (fine-tuning from the nearest
    source) at what the greedy policy depends on: agreement with theta_i's greedy action on
    task i's probe states, over every bank task and its nearest other source."""
    pairs = PairData.build(descriptors, layers, data, arch.activation_module(), config.gamma, 1)
    identity = greedy_agreement(pairs, arch.activation_module())
    fitted = greedy_agreement(pairs, arch.activation_module(), mapping)
    kept = "fitted" if fitted > identity else "identity"
    if kept == "identity":
        mapping.reset_to_identity()
    return {"identity_agreement": identity, "fitted_agreement": fitted, "kept": kept}


class _WarmStart:
    """Start parameters of new sources: the mapper's output for the nearest source of a
    (snapshot of the) bank, or the shared initialization when the bank is empty."""

    def __init__(
        self,
        bank: list[SourceResult],
        family: Any,
        mapping: MappingNetwork,
        shared_init: qnet.Layers,
    ) -> None:
        self.bank, self.family, self.mapping = list(bank), family, mapping
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
        mapped = self.mapping(d, self.descriptors[j : j + 1], source)
        return to_numpy(qnet.index(mapped, 0))


def _progress(enabled: bool, config: MetaTrainConfig) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.num_sources, desc=f"sources {config.env_id}", unit="source")
