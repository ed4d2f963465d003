"""A value-iteration network over a grid family's descriptor.

Grid families (MetaNav, MetaFrozenLake) describe a task by start, goal, a scalar and a
cell mask, laid out as :class:`~gym_metatasks.envs.grid_descriptor.GridDescriptorLayout`
states. The planner turns that into image channels, learns a reward map, and runs
``iterations`` steps of a learned, convolutional Bellman backup; its output is a feature
vector per cell, which the mapping network uses to rewrite the first-layer weight of each
cell's one-hot input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gym_metatasks.envs.grid_descriptor import GridDescriptorLayout


def check_grid_inputs(size: int, descriptor_dim: int, obs_dim: int) -> None:
    """Raise ``ValueError`` unless a planner of ``size`` fits the descriptor and the
    Q-network's (one-hot cell) input."""
    expected_dim = GridDescriptorLayout(size).dim
    if descriptor_dim != expected_dim or obs_dim != size * size:
        raise ValueError(
            f"a planner of grid_size={size} needs a {expected_dim}-dim grid "
            f"descriptor and one-hot observations of size {size * size}; got descriptor_dim="
            f"{descriptor_dim}, obs_dim={obs_dim}"
        )


def grid_channels(descriptor: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, 4, size, size)`` channels of ``(N, D)`` descriptors: cell mask, goal, start,
    scalar."""
    layout = GridDescriptorLayout(size)
    n = descriptor.shape[0]
    mask = descriptor[:, layout.cells].reshape(n, 1, size, size)
    rows = torch.arange(n, device=descriptor.device)
    start = torch.zeros_like(mask)
    goal = torch.zeros_like(mask)
    for channel, coordinates in ((start, layout.start), (goal, layout.goal)):
        cell = (descriptor[:, coordinates] * layout.coordinate_scale).round().long()
        cell = cell.clamp(0, size - 1)
        channel[rows, 0, cell[:, 0], cell[:, 1]] = 1.0
    scalar = descriptor[:, layout.scalar].reshape(n, 1, 1, 1).expand(n, 1, size, size)
    return torch.cat([mask, goal, start, scalar], dim=1)


class GridPlanner(nn.Module):
    """Per-cell features of the target task, computed with knowledge of the source task
    (``with_source=True``, the mapping network's) or from the target alone (the
    hypernetwork's).

    :param size: grid side length
    :param channels: features per cell (the planner's Q channels)
    :param hidden: width of the reward-map convolution
    :param iterations: value-iteration steps (at least the longest shortest path)
    :param with_source: whether the reward map also reads the source's cell mask and goal
    """

    def __init__(
        self,
        size: int,
        channels: int = 10,
        hidden: int = 64,
        iterations: int = 24,
        with_source: bool = True,
    ):
        super().__init__()
        self.size = size
        self.iterations = iterations
        self.channels = channels
        self.with_source = with_source
        # target task's 4 channels (+ the source's cell mask and goal)
        self.reward_hidden = nn.Conv2d(6 if with_source else 4, hidden, 3, padding=1)
        self.reward = nn.Conv2d(hidden, 1, 1)
        self.backup = nn.Conv2d(2, channels, 3, padding=1, bias=False)

    def forward(self, d_target: torch.Tensor, d_source: torch.Tensor | None = None) -> torch.Tensor:
        """:return: ``(N, size * size, channels)`` features in row-major cell order"""
        channels = [grid_channels(d_target, self.size)]
        if self.with_source:
            if d_source is None:
                raise ValueError("this planner reads the source task: pass d_source")
            channels.append(grid_channels(d_source, self.size)[:, :2])
        reward = self.reward(F.relu(self.reward_hidden(torch.cat(channels, dim=1))))
        value = torch.zeros_like(reward)
        for _ in range(self.iterations):
            value = self.backup(torch.cat([reward, value], dim=1)).max(dim=1, keepdim=True).values
        q = self.backup(torch.cat([reward, value], dim=1))
        return q.flatten(2).transpose(1, 2)
