"""The parameters of an SB3 MLP Q-network as a list of layers, and a batched forward pass.

A Q-network's parameters are handled as ``[(W_1, b_1), ..., (W_L, b_L)]`` with ``W_l`` of
shape ``(out_l, in_l)``; a *batch* of networks stacks them as ``(T, out_l, in_l)`` and
``(T, out_l)``. This is the form the mapping network reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, preprocess_obs
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.dqn.policies import QNetwork
from torch import nn

Layers = list[tuple[torch.Tensor, torch.Tensor]]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "Tanh": nn.Tanh,
    "ELU": nn.ELU,
    "LeakyReLU": nn.LeakyReLU,
    "GELU": nn.GELU,
    "SiLU": nn.SiLU,
}


@dataclass(frozen=True)
class Architecture:
    """What a weight-space map needs to know about an MLP Q-network.

    :param obs_dim: flattened (one-hot for ``Discrete``) observation size
    :param net_arch: hidden layer sizes
    :param num_actions: output size
    :param activation: name of the activation between layers (a key of ``ACTIVATIONS``)
    """

    obs_dim: int
    net_arch: tuple[int, ...]
    num_actions: int
    activation: str = "ReLU"

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """``(out, in)`` of every linear layer."""
        sizes = [self.obs_dim, *self.net_arch, self.num_actions]
        return [(sizes[k + 1], sizes[k]) for k in range(len(sizes) - 1)]

    def activation_module(self) -> nn.Module:
        return ACTIVATIONS[self.activation]()

    def to_dict(self) -> dict[str, object]:
        return {
            "obs_dim": self.obs_dim,
            "net_arch": list(self.net_arch),
            "num_actions": self.num_actions,
            "activation": self.activation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Architecture:
        net_arch = data["net_arch"]
        if not isinstance(net_arch, list):
            raise ValueError(f"architecture net_arch must be a list, got {net_arch!r}")
        return cls(
            obs_dim=int(data["obs_dim"]),  # type: ignore[call-overload]
            net_arch=tuple(int(n) for n in net_arch),
            num_actions=int(data["num_actions"]),  # type: ignore[call-overload]
            activation=str(data["activation"]),
        )


def linear_layers(q_net: QNetwork) -> list[nn.Linear]:
    """The linear layers of an SB3 ``QNetwork`` built from ``MlpPolicy``.

    :raises ValueError: when the network is not a plain MLP over flattened observations
    """
    if not isinstance(q_net.features_extractor, FlattenExtractor):
        raise ValueError(
            "MetaDQN maps MLP Q-networks over flattened observations (policy 'MlpPolicy'); "
            f"got features extractor {type(q_net.features_extractor).__name__}"
        )
    layers = [m for m in q_net.q_net if isinstance(m, nn.Linear)]
    others = [m for m in q_net.q_net if not isinstance(m, nn.Linear)]
    if not layers or any(type(m).__name__ not in ACTIVATIONS for m in others):
        raise ValueError(
            "MetaDQN maps MLP Q-networks of Linear layers and one of the activations "
            f"{sorted(ACTIVATIONS)}; got {q_net.q_net}"
        )
    return layers


def architecture(q_net: QNetwork) -> Architecture:
    """The :class:`Architecture` of an SB3 ``QNetwork``."""
    layers = linear_layers(q_net)
    activations = {type(m).__name__ for m in q_net.q_net if not isinstance(m, nn.Linear)}
    return Architecture(
        obs_dim=int(get_flattened_obs_dim(q_net.observation_space)),
        net_arch=tuple(layer.out_features for layer in layers[:-1]),
        num_actions=layers[-1].out_features,
        activation=activations.pop() if activations else "ReLU",
    )


def flat_observations(obs: Any, space: spaces.Space[Any]) -> torch.Tensor:
    """A batch of observations as the Q-network's flat float input ``(N, obs_dim)``
    (SB3's preprocessing: one-hot for ``Discrete``)."""
    tensor = preprocess_obs(torch.as_tensor(obs), space)
    assert isinstance(tensor, torch.Tensor)
    return tensor.float().reshape(len(obs), -1)


def get_layers(q_net: QNetwork) -> Layers:
    """A detached copy of the network's parameters."""
    return [(m.weight.detach().clone(), m.bias.detach().clone()) for m in linear_layers(q_net)]


def set_layers(q_net: QNetwork, layers: Layers) -> None:
    """Copy ``layers`` into the network (shapes must match)."""
    modules = linear_layers(q_net)
    if len(modules) != len(layers):
        raise ValueError(f"expected {len(modules)} layers, got {len(layers)}")
    with torch.no_grad():
        for module, (weight, bias) in zip(modules, layers, strict=True):
            if weight.shape != module.weight.shape or bias.shape != module.bias.shape:
                raise ValueError(
                    f"layer shape mismatch: network has {tuple(module.weight.shape)}, "
                    f"parameters have {tuple(weight.shape)}"
                )
            module.weight.copy_(weight)
            module.bias.copy_(bias)


def batched_forward(layers: Layers, obs: torch.Tensor, activation: nn.Module) -> torch.Tensor:
    """Q-values of a batch of networks.

    :param layers: ``[(W (T, out, in), b (T, out)), ...]``
    :param obs: ``(T, N, obs_dim)`` flattened observations, one set per network
    :return: ``(T, N, num_actions)``
    """
    h = obs
    for k, (weight, bias) in enumerate(layers):
        h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        if k < len(layers) - 1:
            h = activation(h)
    return h


def stack(networks: list[Layers]) -> Layers:
    """Stack single networks into a batch."""
    return [
        (torch.stack([net[k][0] for net in networks]), torch.stack([net[k][1] for net in networks]))
        for k in range(len(networks[0]))
    ]


def index(batch: Layers, idx: torch.Tensor | int) -> Layers:
    """Select networks from a batch (an int gives one unbatched network)."""
    return [(weight[idx], bias[idx]) for weight, bias in batch]
