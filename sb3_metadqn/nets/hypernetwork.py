"""The hypernetwork h_psi: a task descriptor to the parameters of a Q-network, optionally
with the grid planner's per-cell features added to the first layer."""

from __future__ import annotations

import torch
from torch import nn

from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.planner import GridPlanner, check_grid_inputs


class HyperNetwork(nn.Module):
    """h_psi: task descriptor ``(N, D)`` -> batched Q-network parameters.

    :param arch: the Q-network architecture it emits
    :param descriptor_dim: length of the task descriptor
    :param hidden: widths of the descriptor encoder
    :param init: parameters emitted before training (the head's bias); None: zeros
    :param planner: ``{"grid_size", "channels", "iterations"}`` of a grid planner whose
        per-cell features add to the first layer's weight columns, or None
    """

    def __init__(
        self,
        arch: qnet.Architecture,
        descriptor_dim: int,
        hidden: tuple[int, ...] = (256, 256),
        init: qnet.Layers | None = None,
        planner: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.hidden = tuple(int(h) for h in hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be one or more positive widths, got {hidden!r}")
        self.planner_config = None if planner is None else dict(planner)
        self.planner: GridPlanner | None = None
        width = descriptor_dim
        if planner is not None:
            size = int(planner["grid_size"])
            check_grid_inputs(size, descriptor_dim, arch.obs_dim)
            self.planner = GridPlanner(
                size,
                int(planner["channels"]),
                iterations=int(planner["iterations"]),
                with_source=False,
            )
            self.cell_head = nn.Linear(self.planner.channels, arch.layer_shapes[0][0])
            nn.init.zeros_(self.cell_head.weight)
            nn.init.zeros_(self.cell_head.bias)
            width += self.planner.channels
        layers: list[nn.Module] = []
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.encoder = nn.Sequential(*layers)
        self.sizes = [(o * i, o) for o, i in arch.layer_shapes]
        self.head = nn.Linear(width, sum(w + b for w, b in self.sizes))
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            if init is None:
                self.head.bias.zero_()
            else:
                self.head.bias.copy_(torch.cat([t.reshape(-1) for pair in init for t in pair]))

    def forward(self, descriptor: torch.Tensor) -> qnet.Layers:
        """:return: ``[(W (N, out, in), b (N, out)), ...]``"""
        cells = None
        inputs = descriptor
        if self.planner is not None:
            features = self.planner(descriptor)  # (N, cells, channels)
            cells = self.cell_head(features).transpose(1, 2)  # (N, out_0, cells)
            inputs = torch.cat([descriptor, features.mean(dim=1)], dim=1)
        flat = self.head(self.encoder(inputs))
        n, offset = flat.shape[0], 0
        layers: qnet.Layers = []
        for (out_dim, in_dim), (w_size, b_size) in zip(
            self.arch.layer_shapes, self.sizes, strict=True
        ):
            weight = flat[:, offset : offset + w_size].reshape(n, out_dim, in_dim)
            if cells is not None and not layers:
                weight = weight + cells
            bias = flat[:, offset + w_size : offset + w_size + b_size]
            layers.append((weight, bias))
            offset += w_size + b_size
        return layers
