"""Whether a fitted mapping network is kept: it must beat the identity map (the nearest source
as it is) at the end of meta-training, or it is reset to the identity.

Two tests (``guard`` in the configuration):

- ``"agreement"``: agreement with theta_i's greedy action on task i's fit states, over every
  bank task and its nearest other source (no env steps; the test of oracle-trained banks,
  whose sources are exact).
- ``"validation"``: the greedy return of the start MetaDQN would give on each validation
  task (its nearest kept source, mapped or as it is), normalized, over
  :data:`GUARD_EPISODES` seeded episodes per task. It measures what the map is for, on
  tasks the bank never saw; the test of DQN-trained banks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sb3_metadqn.core.mapper_training import PairData, greedy_agreement
from sb3_metadqn.evaluation.rollouts import greedy_return_batched
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.mapping import MappingNetwork

#: Sampled episodes per validation task of the ``"validation"`` guard.
GUARD_EPISODES = 5
#: Seed of the guard's first episode (episode k is reset with GUARD_SEED + k).
GUARD_SEED = 10_000


class LayersPolicy:
    """``predict(obs, deterministic=True)`` of a Q-network given as layers (greedy)."""

    def __init__(self, layers: qnet.Layers, arch: qnet.Architecture, space: Any) -> None:
        self.layers = qnet.stack([layers])
        self.activation = arch.activation_module()
        self.space = space

    @torch.no_grad()
    def predict(self, obs: Any, deterministic: bool = True) -> tuple[np.ndarray, None]:
        batch = qnet.flat_observations(np.asarray(obs), self.space).unsqueeze(0)
        q = qnet.batched_forward(self.layers, batch, self.activation)[0]
        return q.argmax(-1).numpy(), None


def agreement_guard(
    mapper: MappingNetwork,
    descriptors: torch.Tensor,
    layers: qnet.Layers,
    data: dict[str, torch.Tensor],
    arch: qnet.Architecture,
    gamma: float,
) -> dict[str, Any]:
    """The ``"agreement"`` figures of a fitted mapping network against the identity."""
    pairs = PairData.build(descriptors, layers, data, arch.activation_module(), gamma, 1)
    return {
        "guard": "agreement",
        "identity_agreement": greedy_agreement(pairs, arch.activation_module()),
        "fitted_agreement": greedy_agreement(pairs, arch.activation_module(), mapper),
    }


def validation_guard(
    mapper: MappingNetwork,
    descriptors: torch.Tensor,
    layers: qnet.Layers,
    family: Any,
    arch: qnet.Architecture,
    on_task: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The ``"validation"`` figures: mean normalized greedy return on the validation split of
    the nearest source mapped (fitted) and as it is (identity); ``descriptors`` and
    ``layers`` are the sources the artifact keeps; ``on_task`` is called with 1 after every
    validation task (progress bars)."""
    identity: list[float] = []
    fitted: list[float] = []
    for task_id in family.validation_task_ids:
        d = torch.as_tensor(family.descriptor(task_id)).unsqueeze(0)
        j = int(torch.linalg.vector_norm(descriptors - d, dim=1).argmin())
        source = qnet.index(layers, torch.tensor([j]))
        with torch.no_grad():
            mapped = mapper(d, descriptors[j : j + 1], source)
        for out, start in ((identity, source), (fitted, mapped)):
            envs = [family.make(task_id) for _ in range(GUARD_EPISODES)]
            policy = LayersPolicy(qnet.index(start, 0), arch, envs[0].observation_space)
            score = greedy_return_batched(policy, envs, GUARD_SEED)
            out.append(float(family.normalized_return(task_id, score)))
            for env in envs:
                env.close()
        if on_task is not None:
            on_task(1)
    return {
        "guard": "validation",
        "validation_tasks": len(identity),
        "episodes": GUARD_EPISODES,
        "identity_return": float(np.mean(identity)),
        "fitted_return": float(np.mean(fitted)),
    }


def keep_or_reset(mapper: MappingNetwork, figures: dict[str, Any]) -> dict[str, Any]:
    """Keep the fitted mapping network if it beats the identity on the guard's figure, else
    reset it to the identity; the figures with the decision (``"kept"``)."""
    measure = "agreement" if figures["guard"] == "agreement" else "return"
    kept = "fitted" if figures[f"fitted_{measure}"] > figures[f"identity_{measure}"] else "identity"
    if kept == "identity":
        mapper.reset_to_identity()
    return {**figures, "kept": kept}
