"""The two anchors that keep a warm-started DQN near where it started.

- ``anchor_rate`` (weight space): after every gradient step the distance between the
  Q-network's parameters and their initial values shrinks by the factor ``1 - anchor_rate``
  (a decoupled L2-SP penalty).
- ``action_anchor`` (function space): before every gradient step the gradient of

      action_anchor * CE(Q_theta(s) / tau, argmax_a Q_start(s, a)),    tau = mean_s gap_start(s)

  on a replay batch of states ``s`` is added, where ``Q_start`` is the network the agent
  started from and ``gap_start(s)`` its action gap (best minus second-best value). The
  temperature is the start's own typical gap, so one weight serves tasks whose returns
  differ by orders of magnitude. Fine-tuning then changes the values freely but changes
  the start's greedy action on visited states only where the TD error outweighs the
  penalty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from stable_baselines3 import DQN
from torch import nn
from torch.func import functional_call
from torch.utils.hooks import RemovableHandle

from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError

#: The model zip entry that holds the anchor (the initial parameters).
ANCHOR_ENTRY = "anchor.safetensors"


def check_anchor_args(anchor_rate: Any, action_anchor: Any) -> None:
    """:raises ValueError: naming the argument, for a value outside its range"""
    if (
        isinstance(anchor_rate, bool)
        or not isinstance(anchor_rate, (int, float))
        or not 0 <= anchor_rate < 1
    ):
        raise ValueError(f"anchor_rate must be a number in [0, 1), got {anchor_rate!r}")
    if (
        isinstance(action_anchor, bool)
        or not isinstance(action_anchor, (int, float))
        or not (action_anchor >= 0 and math.isfinite(action_anchor))
    ):
        raise ValueError(f"action_anchor must be a finite number >= 0, got {action_anchor!r}")


def action_anchor_loss(
    q_net: nn.Module, start: list[torch.Tensor], observations: torch.Tensor
) -> torch.Tensor:
    """The penalty (without its weight) of ``q_net`` against the parameters ``start`` (in
    the order of ``q_net.parameters()``) on a batch of ``observations``."""
    names = [name for name, _ in q_net.named_parameters()]
    with torch.no_grad():
        q_start = functional_call(q_net, dict(zip(names, start, strict=True)), (observations,))
        if q_start.shape[1] > 1:
            top2 = q_start.topk(2, dim=1).values
            tau = (top2[:, 0] - top2[:, 1]).mean().clamp_min(1e-6)
        else:
            tau = torch.ones((), device=q_start.device)
    return F.cross_entropy(q_net(observations) / tau, q_start.argmax(dim=1))


class Anchored(DQN):
    """DQN's training with both anchors hooked onto the policy's optimizer. The subclass
    sets ``anchor_rate``, ``action_anchor`` and ``_anchor`` (the initial parameters, or
    None for no anchoring)."""

    anchor_rate: float
    action_anchor: float
    _anchor: list[torch.Tensor] | None
    _anchor_hook: RemovableHandle | None = None
    _action_anchor_hook: RemovableHandle | None = None
    _anchored_optimizer: torch.optim.Optimizer | None = None

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """DQN's gradient steps with the anchors hooked on: before each one the greedy-action
        anchor's gradient is added, after each one ``anchor_rate`` pulls the Q-network back
        toward its initial parameters (by ``anchor_rate`` of the distance)."""
        self._attach_anchor()
        super().train(gradient_steps, batch_size)
        if self.anchor_rate > 0 and self._anchor is not None:
            with torch.no_grad():
                squared = sum(
                    (param - start).pow(2).sum()
                    for param, start in zip(self.q_net.parameters(), self._anchor, strict=True)
                )
            self.logger.record("train/anchor_distance", float(torch.as_tensor(squared).sqrt()))

    def _attach_anchor(self) -> None:
        """Hook the pull onto the policy's optimizer (again if the optimizer was replaced)."""
        optimizer = self.policy.optimizer
        if self._anchor is None or self._anchored_optimizer is optimizer:
            return
        for hook in (self._anchor_hook, self._action_anchor_hook):
            if hook is not None:
                hook.remove()
        self._anchor_hook = self._action_anchor_hook = None
        if self.anchor_rate > 0:
            self._anchor_hook = optimizer.register_step_post_hook(self._pull_to_anchor)
        if self.action_anchor > 0:
            self._action_anchor_hook = optimizer.register_step_pre_hook(self._add_action_anchor)
        self._anchored_optimizer = optimizer

    def _add_action_anchor(self, *_: Any) -> None:
        """Add the greedy-action anchor's gradient on a replay batch (before a step)."""
        if self._anchor is None or self.replay_buffer is None:
            return
        batch = self.replay_buffer.sample(self.batch_size, env=self._vec_normalize_env)
        with torch.enable_grad():
            loss = self.action_anchor * action_anchor_loss(
                self.q_net, self._anchor, batch.observations
            )
            loss.backward()

    def _pull_to_anchor(self, *_: Any) -> None:
        """theta <- anchor + (1 - anchor_rate) (theta - anchor), after one optimizer step."""
        if self._anchor is None:
            return
        with torch.no_grad():
            for param, start in zip(self.q_net.parameters(), self._anchor, strict=True):
                param.lerp_(start, self.anchor_rate)


def read_anchor(data: bytes, params: Sequence[torch.Tensor], origin: str) -> list[torch.Tensor]:
    """The saved initial parameters, checked against the Q-network's shapes."""
    tensors, _ = artifacts.decode(data, f"{origin}:{ANCHOR_ENTRY}")
    if sorted(tensors) != sorted(str(k) for k in range(len(params))):
        raise ArtifactError(
            f"{origin}:{ANCHOR_ENTRY} holds {sorted(tensors)}, expected "
            f"one tensor per Q-network parameter (0..{len(params) - 1})"
        )
    anchor = []
    for k, param in enumerate(params):
        tensor = tensors[str(k)]
        if tensor.shape != param.shape:
            raise ArtifactError(
                f"{origin}:{ANCHOR_ENTRY} tensor {k} has shape {tuple(tensor.shape)}, the "
                f"Q-network's parameter {tuple(param.shape)}"
            )
        anchor.append(tensor.to(device=param.device, dtype=param.dtype))
    return anchor
