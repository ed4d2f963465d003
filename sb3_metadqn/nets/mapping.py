"""The mapping network f_phi(d_i, d_j) -> W_ij and its structured weight-space map.

For every linear layer ``l`` of the Q-network (weight ``W`` of shape ``(out, in)``, bias
``b`` of shape ``(out,)``) the map is

    W' = A_l W B_l^T,    b' = A_l b,
    A_l = I + diag(alpha_l) + U_l V_l^T    (out x out, U_l: out x r emitted, V_l fixed)
    B_l = I + diag(gamma_l) + P_l Q_l^T    (in x in,   P_l: in x r  emitted, Q_l fixed)

so the parameter count of W_ij grows linearly with the layer widths, never as P x P.
With ``additive=True`` the map is affine: ``W' = A_l W B_l^T + C_l``, ``b' = A_l b + c_l``,
with ``C_l, c_l`` emitted from the pair as well (a linear map of ``(theta_j, 1)``); the
attribution benchmark's ``mapped-shared-init`` variant shows how much of the start the
source still supplies.
``alpha, U, gamma, P`` are emitted from ``(d_i, d_j, d_i - d_j)`` by zero-initialized
heads, so an untrained mapping network is exactly the identity (``theta_i' = theta_j``). The fixed
right factors ``V_l, Q_l`` are random buffers drawn from a seeded generator and saved with
the mapping network.

When the Q-network's input is a one-hot grid cell and the family's descriptor has the grid
layout (see :mod:`sb3_metadqn.nets.planner`), the first layer's input-side factors
``gamma_1, P_1`` come per cell from a value-iteration planner instead of the shared head.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from sb3_metadqn.nets.planner import GridPlanner, check_grid_inputs
from sb3_metadqn.nets.qnet import Architecture, Layers


@dataclass(frozen=True)
class MapperConfig:
    """Hyperparameters of :class:`MappingNetwork`.

    :param rank: rank ``r`` of the low-rank parts of ``A_l`` and ``B_l``
    :param hidden: width of the descriptor encoder
    :param embedding: size of the pair embedding the heads read
    :param grid_size: side of the grid for the planner, or None for no planner
    :param planner_channels: per-cell features of the planner
    :param planner_iterations: value-iteration steps of the planner
    :param seed: seed of the fixed right factors
    :param additive: add an emitted term ``C_l, c_l`` to every mapped layer (affine map)
    """

    rank: int = 16
    hidden: int = 256
    embedding: int = 128
    grid_size: int | None = None
    planner_channels: int = 10
    planner_iterations: int = 24
    seed: int = 0
    additive: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; ``additive`` only when set, so that the document of a
        multiplicative map is what it was before the option existed."""
        data = asdict(self)
        if not self.additive:
            del data["additive"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MapperConfig:
        return cls(**data)


class MappingNetwork(nn.Module):
    """f_phi: emits the structured map W_ij from a target and a source descriptor.

    :param arch: the Q-network architecture being mapped
    :param descriptor_dim: length of the task descriptor
    :param config: hyperparameters
    """

    def __init__(self, arch: Architecture, descriptor_dim: int, config: MapperConfig):
        super().__init__()
        self.arch = arch
        self.descriptor_dim = descriptor_dim
        self.config = config
        rank = config.rank
        self.planner: GridPlanner | None = None
        planner_features = 0
        if config.grid_size is not None:
            size = config.grid_size
            check_grid_inputs(size, descriptor_dim, arch.obs_dim)
            self.planner = GridPlanner(
                size, config.planner_channels, iterations=config.planner_iterations
            )
            planner_features = config.planner_channels
            self.cell_head = nn.Linear(planner_features, rank + 1)
            nn.init.zeros_(self.cell_head.weight)
            nn.init.zeros_(self.cell_head.bias)
        self.encoder = nn.Sequential(
            nn.Linear(3 * descriptor_dim + planner_features, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.embedding),
            nn.ReLU(),
        )
        generator = torch.Generator().manual_seed(config.seed)
        self.heads = nn.ModuleList()
        for layer, (out_dim, in_dim) in enumerate(arch.layer_shapes):
            size = out_dim * (1 + rank) + (0 if self._planned(layer) else in_dim * (1 + rank))
            head = nn.Linear(config.embedding, size)
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
            self.heads.append(head)
            self.register_buffer(
                f"out_factor_{layer}",
                torch.randn(out_dim, rank, generator=generator) / out_dim**0.5,
            )
            self.register_buffer(
                f"in_factor_{layer}", torch.randn(in_dim, rank, generator=generator) / in_dim**0.5
            )
        self.shift_heads = nn.ModuleList()
        if config.additive:
            for out_dim, in_dim in arch.layer_shapes:
                shift = nn.Linear(config.embedding, out_dim * (in_dim + 1))
                nn.init.zeros_(shift.weight)
                nn.init.zeros_(shift.bias)
                self.shift_heads.append(shift)

    def reset_to_identity(self) -> None:
        """Zero the emitting heads: the map becomes W_ij = I again."""
        with torch.no_grad():
            heads: list[nn.Module] = [*self.heads, *self.shift_heads]
            if self.planner is not None:
                heads.append(self.cell_head)
            for head in heads:
                for parameter in head.parameters():
                    parameter.zero_()

    def _planned(self, layer: int) -> bool:
        return layer == 0 and self.planner is not None

    def forward(self, d_target: torch.Tensor, d_source: torch.Tensor, source: Layers) -> Layers:
        """Map a batch of source networks.

        :param d_target: ``(N, D)`` target descriptors d_i
        :param d_source: ``(N, D)`` source descriptors d_j
        :param source: ``[(W (N, out, in), b (N, out)), ...]`` source parameters theta_j
        :return: theta_i' in the same layout
        """
        n, rank = d_target.shape[0], self.config.rank
        pair = [d_target, d_source, d_target - d_source]
        cells = None
        if self.planner is not None:
            features = self.planner(d_target, d_source)
            cells = self.cell_head(features)  # (N, in_0, rank + 1)
            pair.append(features.mean(dim=1))
        z = self.encoder(torch.cat(pair, dim=1))
        mapped: Layers = []
        for layer, ((out_dim, in_dim), head) in enumerate(
            zip(self.arch.layer_shapes, self.heads, strict=True)
        ):
            weight, bias = source[layer]
            y = head(z)
            alpha = y[:, :out_dim]
            u = y[:, out_dim : out_dim * (1 + rank)].reshape(n, out_dim, rank)
            if cells is not None and layer == 0:
                gamma, p = cells[:, :, 0], cells[:, :, 1:]
            else:
                rest = y[:, out_dim * (1 + rank) :]
                gamma = rest[:, :in_dim]
                p = rest[:, in_dim:].reshape(n, in_dim, rank)
            v = getattr(self, f"out_factor_{layer}")
            q = getattr(self, f"in_factor_{layer}")
            a_weight = weight + alpha.unsqueeze(2) * weight + u @ (v.T @ weight)
            new_weight = (
                a_weight + a_weight * gamma.unsqueeze(1) + (a_weight @ q) @ p.transpose(1, 2)
            )
            new_bias = bias + alpha * bias + (u @ (v.T @ bias.unsqueeze(2))).squeeze(2)
            if self.shift_heads:
                shift = self.shift_heads[layer](z)
                new_weight = new_weight + shift[:, : out_dim * in_dim].reshape(n, out_dim, in_dim)
                new_bias = new_bias + shift[:, out_dim * in_dim :]
            mapped.append((new_weight, new_bias))
        return mapped
