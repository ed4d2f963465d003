"""Fitting the mapping network on pairs of sources (meta-training steps 2-5).

For a pair (target i, source j) the mapped network theta_i' = W_ij theta_j is scored on
task i's data:

    L = MSE(Q_theta_i'(s), Q_theta_i(s)) / Var        function space, fit states of task i
      + ce_weight * CE(Q_theta_i'(s) / tau, argmax Q_theta_i(s))   greedy action agreement
      + td_weight * (Q_theta_i'(s, a) - r - gamma (1 - done) max Q_theta_i(s'))^2 / Var
      + beta * mean ||theta_i' - theta_i||^2                    weight space

``theta_i`` is the network the source training reached on task i (it plays the role of DQN's
target network in the TD term). Scale-free by construction: the Q-value terms are divided by
the batch's target variance and ``tau`` is the batch's mean action gap, so one setting serves
families whose returns differ by orders of magnitude.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.mapping import MappingNetwork


@dataclass(frozen=True)
class MapperTrainingConfig:
    """How the mapping network is fit on pairs of bank sources.

    :param batch_size: pairs per step
    :param learning_rate: Adam step size
    :param neighbours: a target's source is drawn from its ``neighbours`` nearest sources
    :param ce_weight: weight of the greedy-action agreement (cross-entropy) term
    :param td_weight: weight of the TD term on the target task's transitions
    :param beta: weight of the weight-space term ||theta_i' - theta_i||^2
    """

    batch_size: int = 32
    learning_rate: float = 5e-3
    neighbours: int = 8
    ce_weight: float = 1.0
    td_weight: float = 0.1
    beta: float = 1e-3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PairData:
    """Everything the pair loss needs, stacked over the bank's sources (index = source)."""

    descriptors: torch.Tensor  # (T, D)
    layers: qnet.Layers  # batched (T, ...)
    fit_obs: torch.Tensor  # (T, N, obs_dim)
    fit_mask: torch.Tensor  # (T, N) float
    fit_q: torch.Tensor  # (T, N, A) Q_theta_i on the fit states
    obs: torch.Tensor  # (T, M, obs_dim)
    action: torch.Tensor  # (T, M)
    td_target: torch.Tensor  # (T, M)
    transition_mask: torch.Tensor  # (T, M) float
    neighbours: torch.Tensor  # (T, k) nearest other sources

    @classmethod
    def build(
        cls,
        descriptors: torch.Tensor,
        layers: qnet.Layers,
        data: dict[str, torch.Tensor],
        activation: torch.nn.Module,
        gamma: float,
        neighbours: int,
    ) -> PairData:
        with torch.no_grad():
            fit_q = qnet.batched_forward(layers, data["fit_obs"], activation)
            next_q = qnet.batched_forward(layers, data["next_obs"], activation).max(-1).values
            td_target = data["reward"] + gamma * (1.0 - data["terminated"]) * next_q
        distance = torch.cdist(descriptors, descriptors)
        distance.fill_diagonal_(float("inf"))
        k = max(1, min(neighbours, len(descriptors) - 1))
        return cls(
            descriptors=descriptors,
            layers=layers,
            fit_obs=data["fit_obs"],
            fit_mask=data["fit_mask"].float(),
            fit_q=fit_q,
            obs=data["obs"],
            action=data["action"],
            td_target=td_target,
            transition_mask=data["transition_mask"].float(),
            neighbours=distance.topk(k, largest=False).indices,
        )


def q_value_losses(
    layers: qnet.Layers, data: PairData, target: torch.Tensor, activation: torch.nn.Module
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The function-space, cross-entropy and TD terms (see the module docstring) of
    networks ``layers`` (batched, one per entry of ``target``) on their target tasks' data."""
    q = qnet.batched_forward(layers, data.fit_obs[target], activation)
    q_target = data.fit_q[target]
    mask = data.fit_mask[target]
    weight = mask / mask.sum().clamp_min(1.0)
    variance = (
        ((q_target - (q_target * weight.unsqueeze(-1)).sum((0, 1))) ** 2).mean().clamp_min(1e-8)
    )
    function_space = (((q - q_target) ** 2).mean(-1) * weight).sum() / variance
    top2 = q_target.topk(2, dim=-1).values if q_target.shape[-1] > 1 else q_target.repeat(1, 1, 2)
    tau = ((top2[..., 0] - top2[..., 1]) * weight).sum().clamp_min(1e-6)
    ce = F.cross_entropy((q / tau).flatten(0, 1), q_target.argmax(-1).flatten(), reduction="none")
    ce = (ce * weight.flatten()).sum()
    q_sa = qnet.batched_forward(layers, data.obs[target], activation)
    q_sa = q_sa.gather(-1, data.action[target].unsqueeze(-1)).squeeze(-1)
    t_mask = data.transition_mask[target]
    td = (((q_sa - data.td_target[target]) ** 2) * t_mask).sum() / t_mask.sum().clamp_min(1.0)
    return function_space, ce, td / variance


def pair_loss(
    mapper: MappingNetwork,
    data: PairData,
    target: torch.Tensor,
    source: torch.Tensor,
    config: MapperTrainingConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of mapping ``source`` sources onto ``target`` tasks (index tensors)."""
    mapped = mapper(
        data.descriptors[target], data.descriptors[source], qnet.index(data.layers, source)
    )
    function_space, ce, td = q_value_losses(mapped, data, target, mapper.arch.activation_module())
    own = qnet.index(data.layers, target)
    squared = torch.stack(
        [
            ((w1 - w2) ** 2).sum() + ((b1 - b2) ** 2).sum()
            for (w1, b1), (w2, b2) in zip(mapped, own, strict=True)
        ]
    ).sum()
    count = sum(w.shape[1] * w.shape[2] + b.shape[1] for w, b in own)
    weight_space = squared / (count * len(target))
    loss = (
        function_space + config.ce_weight * ce + config.td_weight * td + config.beta * weight_space
    )
    parts = {
        "function_space": function_space.item(),
        "cross_entropy": ce.item(),
        "td": td.item(),
        "weight_space": weight_space.item(),
        "loss": loss.item(),
    }
    return loss, parts


@torch.no_grad()
def greedy_agreement(
    data: PairData,
    activation: torch.nn.Module,
    mapper: MappingNetwork | None = None,
    chunk: int = 100,
) -> float:
    """Fraction of the fit states of every bank task i where the network mapped from its
    nearest other source picks the same greedy action as theta_i (``mapper=None``: the
    identity map, i.e. the nearest source as it is)."""
    agree, total = 0.0, 0.0
    count = len(data.descriptors)
    for start in range(0, count, chunk):
        target = torch.arange(start, min(count, start + chunk))
        source = data.neighbours[target, 0]
        layers = qnet.index(data.layers, source)
        if mapper is not None:
            layers = mapper(data.descriptors[target], data.descriptors[source], layers)
        q = qnet.batched_forward(layers, data.fit_obs[target], activation)
        same = (q.argmax(-1) == data.fit_q[target].argmax(-1)).float()
        mask = data.fit_mask[target]
        agree += float((same * mask).sum())
        total += float(mask.sum())
    return agree / max(total, 1.0)


def sample_pairs(
    data: PairData, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets uniformly over the bank, each with a source among its nearest others."""
    count = len(data.descriptors)
    target = torch.randint(count, (batch_size,), generator=generator)
    pick = torch.randint(data.neighbours.shape[1], (batch_size,), generator=generator)
    return target, data.neighbours[target, pick]


def fit_mapper(
    mapper: MappingNetwork,
    optimizer: torch.optim.Optimizer,
    data: PairData,
    steps: int,
    config: MapperTrainingConfig,
    generator: torch.Generator,
    on_step: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """``steps`` optimizer steps on sampled pairs; returns the loss parts of each step.

    :param on_step: called with 1 after every step (progress bars)
    """
    history = []
    mapper.train()
    for _ in range(steps):
        target, source = sample_pairs(data, config.batch_size, generator)
        loss, parts = pair_loss(mapper, data, target, source, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(parts)
        if on_step is not None:
            on_step(1)
    mapper.eval()
    return history


def recent_mean(history: list[dict[str, float]], key: str, last: int = 100) -> float:
    values = [h[key] for h in history[-last:]]
    return float(np.mean(values)) if values else float("nan")
