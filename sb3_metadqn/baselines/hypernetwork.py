"""Hypernetwork initialization: theta_i' emitted from the task descriptor d_i alone, with no
source network (HyperZero-style; Rezaei-Shoshtari et al., 2023).

h_psi(d) is an MLP encoder of d and one linear head that emits every weight and bias of the
Q-network. The head starts at zero weight with the shared initialization as its bias, so the
untrained hypernetwork emits that initialization for every task. With ``planner=True`` (grid
families) the mapping network's value-iteration planner (:class:`~sb3_metadqn.nets.planner.
GridPlanner`, reading d_i alone) adds a column per cell to the first layer's weight, as it
supplies the mapping network's per-cell factors, and its mean feature joins the encoder's
input: the hypernetwork and MetaDQN then differ only in how the weights are produced. It is fit on a source bank
(built exactly as meta-training builds one: oracle regression or DQN, from the shared
initialization, same seed) with the mapping network's Q-value loss on each task's own data:
function space + greedy-action cross-entropy + TD (:func:`~sb3_metadqn.core.mapper_training.q_value_losses`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from sb3_metadqn._checks import check_config, check_value
from sb3_metadqn.core.backends import BackendName, check_backend
from sb3_metadqn.core.initializer import Initializer
from sb3_metadqn.core.mapper_training import PairData, q_value_losses, recent_mean
from sb3_metadqn.core.meta_config import MetaTrainConfig, SourceTrainer, resolve_config
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
from sb3_metadqn.core.source_training import SourceJob, to_numpy
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.checkpoints import Checkpoint
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.hypernetwork import HyperNetwork
from sb3_metadqn.nets.mapping import MapperConfig
from sb3_metadqn.progress import Progress


class HyperNetworkInit(Initializer):
    """theta_i' = h_psi(d_i) for any task of a family.

    :param network: the fitted :class:`HyperNetwork`
    :param common: the :class:`~sb3_metadqn.Initializer` arguments
    """

    kind = "hypernetwork"

    def __init__(self, *, network: HyperNetwork, **common: Any) -> None:
        super().__init__(**common)
        if network.arch != self.arch:
            raise ValueError(
                f"the network emits {network.arch}, the initializer is for {self.arch}"
            )
        self.network = network.eval()

    @torch.no_grad()
    def initial_parameters(
        self,
        descriptor: Any,
        *,
        candidates: int = 1,
        transitions: dict[str, torch.Tensor] | None = None,
        gamma: float = 0.99,
    ) -> tuple[qnet.Layers, dict[str, Any]]:
        """h_psi(d_i) for the task's descriptor."""
        emitted = self.network(self.check_descriptor(descriptor).unsqueeze(0))
        return [(w[0].clone(), b[0].clone()) for w, b in emitted], {"selection": "hypernetwork"}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"network.{k}": v for k, v in self.network.state_dict().items()}

    def document(self) -> dict[str, Any]:
        return {
            **super().document(),
            "hidden": list(self.network.hidden),
            "planner": self.network.planner_config,
        }

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> HyperNetworkInit:
        common = cls.common_fields(tensors, document, origin)
        artifacts.require(document, ["hidden"], origin)
        try:
            network = HyperNetwork(
                common["arch"],
                len(common["descriptor_names"]),
                tuple(document["hidden"]),
                planner=document.get("planner"),  # artifacts written before it: no planner
            )
            state = {
                k[len("network.") :]: v for k, v in tensors.items() if k.startswith("network.")
            }
            network.load_state_dict(state)
            return cls(network=network, **common)
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            raise ArtifactError(f"{origin}: the hypernetwork does not fit: {error}") from error

    def info(self) -> dict[str, Any]:
        parameters = sum(p.numel() for p in self.network.parameters())
        return {
            **super().info(),
            "hidden": list(self.network.hidden),
            "planner": self.network.planner_config is not None,
            "parameters": parameters,
        }


@dataclass(frozen=True)
class HyperNetworkConfig:
    """Everything that determines a hypernetwork's training (recorded in the artifact).

    The source fields mean what they mean in :class:`~sb3_metadqn.MetaTrainConfig`; with the
    same values both build the same bank.

    :param hidden: widths of the descriptor encoder
    :param steps: optimizer steps of the fit (8,000: chosen on the grid families' validation
        tasks, see the benchmarks README)
    :param batch_size: tasks per step
    :param learning_rate: Adam step size
    :param ce_weight, td_weight: weights of the cross-entropy and TD terms
    :param planner: add the grid planner (reading d_i alone) to the hypernetwork (grid
        families with one-hot cell observations)
    :param min_source_return: sources below it are left out of the fit, as in meta-training
        (:class:`~sb3_metadqn.core.meta_config.MetaTrainConfig`)
    :param source_q_limit: sources whose Q-values diverged are left out of the fit, as in
        meta-training (None: no such test)
    :param planner_channels, planner_iterations: the planner's size, as the mapping network's
        (:class:`~sb3_metadqn.MapperConfig`)
    """

    env_id: str
    num_sources: int | None = None
    source_method: SourceTrainer = "auto"
    source_timesteps: int | None = None
    chunk_size: int = 50
    net_arch: tuple[int, ...] = (64, 64)
    gamma: float = 0.99
    seed: int = 0
    task_ids: tuple[int, ...] | None = None
    dqn_kwargs: dict[str, Any] = field(default_factory=dict)
    hidden: tuple[int, ...] = (256, 256)
    steps: int = 8000
    batch_size: int = 32
    learning_rate: float = 1e-3
    ce_weight: float = 1.0
    td_weight: float = 0.1
    planner: bool = False
    min_source_return: float = 0.5
    planner_channels: int = MapperConfig.planner_channels
    planner_iterations: int = MapperConfig.planner_iterations
    source_q_limit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; ``source_q_limit`` only when set, so that the record of a fit
        without it is what it was before the option existed."""
        data = asdict(self)
        for key in ("net_arch", "hidden", "task_ids"):
            data[key] = None if data[key] is None else list(data[key])
        if self.source_q_limit is None:
            del data["source_q_limit"]
        return data

    def resolve(self) -> tuple[HyperNetworkConfig, Any]:
        """Validate (the source fields as meta-training does) and fill in ``auto`` choices."""
        sources, family = resolve_config(
            MetaTrainConfig(
                env_id=self.env_id,
                num_sources=self.num_sources,
                rounds=1,
                source_method=self.source_method,
                source_timesteps=self.source_timesteps,
                chunk_size=self.chunk_size,
                net_arch=tuple(self.net_arch),
                gamma=self.gamma,
                mapper_steps=0,
                seed=self.seed,
                dqn_kwargs=dict(self.dqn_kwargs),
                task_ids=self.task_ids,
                warm_start="no",
                min_source_return=self.min_source_return,
                source_q_limit=self.source_q_limit,
            )
        )
        check_config(self)
        if not self.hidden or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden
        ):
            raise ValueError(f"hidden must be one or more positive widths, got {self.hidden!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not isinstance(self.planner, bool):
            raise ValueError(f"planner must be True or False, got {self.planner!r}")
        if self.planner and not hasattr(family, "model"):
            raise ValueError(
                f"planner=True needs a grid family (MetaNav, MetaFrozenLake); {self.env_id} has "
                "no grid descriptor"
            )
        resolved = replace(
            self,
            num_sources=sources.num_sources,
            source_method=sources.source_method,
            source_timesteps=sources.source_timesteps,
            net_arch=sources.net_arch,
            dqn_kwargs=sources.dqn_kwargs,
            hidden=tuple(int(h) for h in self.hidden),
        )
        return resolved, family


def hypernetwork_train(
    env_id: str,
    *,
    backend: BackendName = "local",
    num_workers: int | None = None,
    ray_address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1000,
    progress_bar: bool = False,
    verbose: int = 0,
    **config: Any,
) -> HyperNetworkInit:
    """Build a source bank and fit a :class:`HyperNetworkInit` on it.

    :param config: the fields of :class:`HyperNetworkConfig` (``num_sources``, ``steps``, ...)
    :param backend: where sources train (``"local"``, ``"serial"`` or ``"ray"``)
    :param checkpoint_dir: finished chunks of sources and the fit (every
        ``checkpoint_every`` steps) are saved there; a rerun with the same arguments resumes
        with the result an uninterrupted run gives
    :param progress_bar: show a bar per phase on stderr (``sources``, ``hypernetwork fit``)
    :param verbose: 1 prints the mean losses every ``checkpoint_every`` steps
    """
    if "task_ids" in config and config["task_ids"] is not None:
        config["task_ids"] = tuple(int(t) for t in config["task_ids"])
    for key in ("net_arch", "hidden"):
        if key in config:
            config[key] = tuple(config[key])
    resolved, family = HyperNetworkConfig(env_id=env_id, **config).resolve()
    check_value("checkpoint_every", checkpoint_every)
    check_backend(backend, num_workers, ray_address)
    checkpoint = Checkpoint(
        None if checkpoint_dir is None else Path(checkpoint_dir), resolved.to_dict()
    )
    arch, spaces_doc = family_network(family, resolved.net_arch)
    init = shared_init(arch, resolved.seed)
    tasks = list(resolved.task_ids or ()) or [
        int(t)
        for t in family.sample_task_ids(resolved.num_sources, split="train", rng=resolved.seed)
    ]
    start = to_numpy(init)

    def make_job(chunk: tuple[int, ...]) -> SourceJob:
        return SourceJob(
            env_id=env_id,
            task_ids=chunk,
            init=(start,) * len(chunk),
            arch=arch,
            trainer=resolved.source_method,
            seed=resolved.seed,
            gamma=resolved.gamma,
            timesteps=int(resolved.source_timesteps or 0),
            dqn_kwargs=resolved.dqn_kwargs,
        )

    runner = LazyBackend(backend, num_workers, ray_address)
    progress = Progress(progress_bar)
    try:
        with progress.phase("sources", len(tasks), unit="source") as bar:
            bank = train_chunks(
                split_chunks(tasks, resolved.chunk_size),
                make_job,
                checkpoint,
                0,
                runner,
                len(arch.layer_shapes),
                bar.update,
            )
    finally:
        runner.close()

    planner = None
    if resolved.planner:
        planner = {
            "grid_size": int(family.size),
            "channels": resolved.planner_channels,
            "iterations": resolved.planner_iterations,
        }
    torch.manual_seed(resolved.seed)  # the network's init, whatever ran before (backends)
    network = HyperNetwork(arch, len(family.descriptor_names), resolved.hidden, init, planner)
    optimizer = torch.optim.Adam(network.parameters(), lr=resolved.learning_rate)
    generator = torch.Generator().manual_seed(resolved.seed)
    state = checkpoint.load_training(network, optimizer, generator, prefix="hypernetwork")
    done = 0 if state is None else int(state["round"])
    fit_seconds = 0.0 if state is None else float(state["fit_cpu_seconds"])
    history: list[dict[str, Any]] = [] if state is None else list(state["history"])
    activation = arch.activation_module()
    network.train()
    fit_bar = progress.phase("hypernetwork fit", resolved.steps, unit="step", initial=done)
    with fit_bar as bar:
        good = good_sources(
            bank,
            family,
            resolved.min_source_return,
            q_limit=resolved.source_q_limit,
            activation=activation,
            gamma=resolved.gamma,
        )
        descriptors, layers, data = bank_tensors(good, family)
        pairs = PairData.build(descriptors, layers, data, activation, resolved.gamma, 1)
        while done < resolved.steps:
            clock = time.process_time()
            segment = min(checkpoint_every, resolved.steps - done)
            losses = []
            for _ in range(segment):
                target = torch.randint(
                    len(descriptors), (resolved.batch_size,), generator=generator
                )
                function_space, ce, td = q_value_losses(
                    network(pairs.descriptors[target]), pairs, target, activation
                )
                loss = function_space + resolved.ce_weight * ce + resolved.td_weight * td
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(
                    {"loss": loss.item(), "function_space": function_space.item(), "td": td.item()}
                )
                bar.update(1)
            done += segment
            fit_seconds += time.process_time() - clock
            history.append({"step": done, **{k: recent_mean(losses, k) for k in losses[-1]}})
            if verbose:
                progress.write(f"hypernetwork step {done}: {history[-1]}")
            checkpoint.save_training(
                done,
                network,
                optimizer,
                generator,
                {"history": history, "fit_cpu_seconds": fit_seconds},
                prefix="hypernetwork",
            )
    source_seconds = source_cpu_seconds(bank)
    training = {
        "method": "hypernetwork",
        "config": resolved.to_dict(),
        "history": history,
        "cost": {
            "source_cpu_seconds": source_seconds,
            "fit_cpu_seconds": fit_seconds,
            "core_seconds": source_seconds + fit_seconds,
        },
        "bank_sources": len(bank),
        "fit_sources": len(good),
    }
    if not all(math.isfinite(h["loss"]) for h in history):
        raise RuntimeError(f"the hypernetwork fit diverged: {history[-3:]}")
    return HyperNetworkInit(
        network=network,
        env_id=env_id,
        family_key=family.key,
        descriptor_names=list(family.descriptor_names),
        observation_space=spaces_doc[0],
        action_space=spaces_doc[1],
        arch=arch,
        training=training,
    )
