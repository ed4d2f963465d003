"""The greedy-action anchor: a function-space penalty that keeps the warm start's action
ranking on the states the agent visits, whatever the scale of its Q-values.

On a replay batch of states ``s`` the penalty is

    weight * CE(Q_theta(s) / tau, argmax_a Q_start(s, a)),    tau = mean_s gap_start(s)

where ``Q_start`` is the network the agent started from and ``gap_start(s)`` its action
gap (best minus second-best value): the softmax temperature is the start's own typical gap,
so the same weight serves tasks whose returns differ by orders of magnitude. Fine-tuning
then changes the values freely but changes the start's greedy action only where the TD
error outweighs the penalty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


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
