"""Whether a fitted mapping network is kept: it must beat the identity map (the nearest source
as it is) at the end of meta-training, or it is reset to the identity.

Two tests (``guard`` in the configuration):

- ``"agreement"``: agreement with theta_i's greedy action on task i's fit states, over every
  bank task and its nearest other source (no env steps; the test of oracle-trained banks,
  whose sources are exact).
- ``"validation"``: the greedy return of the start MetaDQN would give on each validation
  task (its nearest kept source, mapped or as it is; with a probe ``(k, e)``, the one of
  its k nearest kept sources whose greedy policy returns most over e episodes of the task),
  normalized: exact where the family has a model, else over ``episodes`` seeded episodes
  per task (default :data:`GUARD_EPISODES`). It measures what the map is for, on tasks the
  bank never saw; the test of DQN-trained banks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sb3_metadqn.core.mapper_training import PairData, greedy_agreement
from sb3_metadqn.evaluation.rollouts import greedy_return_batched, greedy_value, has_exact_model
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.mapping import MappingNetwork

#: Sampled episodes per validation task of the ``"validation"`` guard (its default).
GUARD_EPISODES = 5
#: Seed of the guard's first episode (episode k is reset with GUARD_SEED + k).
GUARD_SEED = 10_000
#: Seed of the probe episodes (MetaDQN's probe seeds the env with the model's seed; 0 here).
PROBE_SEED = 0


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
    probe: tuple[int, ...] | None = None,
    episodes: int = GUARD_EPISODES,
) -> dict[str, Any]:
    """The ``"validation"`` figures: mean normalized greedy return on the validation split of
    the start MetaDQN gives with the map fitted and with the identity; ``descriptors`` and
    ``layers`` are the sources the artifact keeps; ``probe`` is ``(k, e)`` (None: the
    nearest source; the figures record ``k`` capped at the kept sources); ``episodes``
    sampled episodes score a start where the family has no exact model; ``on_task`` is
    called with 1 after every validation task (progress bars)."""
    identity: list[float] = []
    fitted: list[float] = []
    k, probe_episodes = probe if probe is not None else (1, 0)
    for task_id in family.validation_task_ids:
        d = torch.as_tensor(family.descriptor(task_id)).unsqueeze(0)
        nearest = torch.linalg.vector_norm(descriptors - d, dim=1).argsort(stable=True)[:k]
        sources = qnet.index(layers, nearest)
        with torch.no_grad():
            mapped = mapper(d.expand(len(nearest), -1), descriptors[nearest], sources)
        for out, starts in ((identity, sources), (fitted, mapped)):
            start = _probe_choice(starts, family, task_id, arch, probe_episodes)
            score = _greedy_score(start, family, task_id, arch, episodes)
            out.append(float(family.normalized_return(task_id, score)))
        if on_task is not None:
            on_task(1)
    figures = {
        "guard": "validation",
        "validation_tasks": len(identity),
        "episodes": "exact" if has_exact_model(family) else episodes,
        "identity_return": float(np.mean(identity)),
        "fitted_return": float(np.mean(fitted)),
    }
    if probe is not None:  # the candidates the probe had: at most the kept sources
        figures["probe"] = [min(k, len(descriptors)), probe_episodes]
    return figures


def _greedy_score(
    layers: qnet.Layers, family: Any, task_id: int, arch: qnet.Architecture, episodes: int
) -> float:
    """The greedy return of a single Q-network (``layers`` of one network) on a task: exact
    where the family has a model, else the mean over ``episodes`` seeded episodes."""
    if has_exact_model(family):
        env = family.make(task_id)
        policy = LayersPolicy(layers, arch, env.observation_space)
        score = greedy_value(policy, family, task_id, env, 0, GUARD_SEED)
        env.close()
        return score
    envs = [family.make(task_id) for _ in range(episodes)]
    policy = LayersPolicy(layers, arch, envs[0].observation_space)
    score = greedy_return_batched(policy, envs, GUARD_SEED)
    for env in envs:
        env.close()
    return score


def _probe_choice(
    starts: qnet.Layers, family: Any, task_id: int, arch: qnet.Architecture, episodes: int
) -> qnet.Layers:
    """The network among ``starts`` (batched, nearest first) whose greedy policy returns most
    over ``episodes`` episodes of the task (the nearer on ties), as MetaDQN's return probe
    chooses; the first when ``episodes`` is 0."""
    count = len(starts[0][0])
    if episodes == 0 or count == 1:
        return qnet.index(starts, 0)
    from stable_baselines3.common.vec_env import DummyVecEnv

    from sb3_metadqn.agents.probe import probe_returns

    env = DummyVecEnv([lambda: family.make(task_id)])
    policy: list[LayersPolicy] = []

    def load(index: int) -> None:
        policy[:] = [LayersPolicy(qnet.index(starts, index), arch, env.observation_space)]

    def act(obs: Any) -> np.ndarray:
        return policy[0].predict(obs)[0]

    returns, _ = probe_returns(env, list(range(count)), episodes, load, act, PROBE_SEED)
    env.close()
    return qnet.index(starts, int(np.argmax(returns)))


def keep_or_reset(mapper: MappingNetwork, figures: dict[str, Any]) -> dict[str, Any]:
    """Keep the fitted mapping network if it beats the identity on the guard's figure, else
    reset it to the identity; the figures with the decision (``"kept"``)."""
    measure = "agreement" if figures["guard"] == "agreement" else "return"
    kept = "fitted" if figures[f"fitted_{measure}"] > figures[f"identity_{measure}"] else "identity"
    if kept == "identity":
        mapper.reset_to_identity()
    return {**figures, "kept": kept}
