"""Training the Q-networks of the source bank.

A :class:`SourceJob` names a chunk of train-split tasks and the parameters every one of them
starts from; :func:`train_sources` turns it into one :class:`SourceResult` per task. Jobs are
plain data, so any backend (a local process pool, Ray) can run them, and one job's results
depend only on the job: every worker runs torch with a single thread.

Two source trainers (``SourceJob.trainer``; ``source_method`` in the configuration):

- ``"oracle"`` (families with an exact model: MetaNav, MetaFrozenLake): regress the network on
  the discounted optimal Q-values of every state the agent can act in.
- ``"dqn"`` (any family): SB3 DQN from the given start parameters for ``timesteps`` steps.

Each result also carries the task data the mapping network is fit on: the task's fit states
(the observations where mapped and trained Q-values are compared) and transitions for the
TD term.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback

import gym_metatasks
from gym_metatasks import tabular
from sb3_metadqn.evaluation.rollouts import greedy_return
from sb3_metadqn.nets import qnet

NumpyLayers = list[tuple[NDArray[np.float32], NDArray[np.float32]]]
#: How a source is trained (``SourceJob.trainer``; ``source_method`` in the configuration).
SOURCE_TRAINERS = ("oracle", "dqn")


@dataclass(frozen=True)
class SourceJob:
    """Train the Q-networks of ``task_ids``, each starting from ``init[k]``.

    :param env_id: registered family id
    :param task_ids: train-split task ids
    :param init: start parameters per task (numpy, unbatched)
    :param arch: the Q-network architecture
    :param trainer: ``"oracle"`` or ``"dqn"``
    :param seed: base seed; task ``t`` uses ``seed + t``
    :param gamma: discount
    :param timesteps: DQN steps per task (``"dqn"``) or regression steps (``"oracle"``)
    :param dqn_kwargs: extra keyword arguments of ``DQN`` (``"dqn"`` only)
    :param num_transitions: transitions kept per task for the TD term
    """

    env_id: str
    task_ids: tuple[int, ...]
    init: tuple[NumpyLayers, ...]
    arch: qnet.Architecture
    trainer: str
    seed: int
    gamma: float = 0.99
    timesteps: int = 600
    dqn_kwargs: dict[str, Any] = field(default_factory=dict)
    num_transitions: int = 512


@dataclass
class SourceResult:
    """A trained source and the data the mapping network learns from.

    ``fit_obs`` ``(N, obs_dim)`` with ``fit_mask`` ``(N,)``; transitions are
    ``obs (M, obs_dim)``, ``action (M,)``, ``reward (M,)``, ``next_obs (M, obs_dim)``,
    ``terminated (M,)``, ``transition_mask (M,)``.
    """

    task_id: int
    layers: NumpyLayers
    provenance: dict[str, Any]
    fit_obs: NDArray[np.float32]
    fit_mask: NDArray[np.bool_]
    obs: NDArray[np.float32]
    action: NDArray[np.int64]
    reward: NDArray[np.float32]
    next_obs: NDArray[np.float32]
    terminated: NDArray[np.float32]
    transition_mask: NDArray[np.bool_]


def to_torch(layers: NumpyLayers) -> qnet.Layers:
    """Copies (arrays from another process may be read-only)."""
    return [(torch.tensor(np.array(w)), torch.tensor(np.array(b))) for w, b in layers]


def to_numpy(layers: qnet.Layers) -> NumpyLayers:
    return [(w.detach().cpu().numpy().copy(), b.detach().cpu().numpy().copy()) for w, b in layers]


def train_sources(job: SourceJob) -> list[SourceResult]:
    """Run a job. Backends run it with one torch thread, so its result does not depend on
    the backend."""
    if job.trainer == "oracle":
        return _oracle_sources(job)
    if job.trainer == "dqn":
        return [_dqn_source(job, k) for k in range(len(job.task_ids))]
    raise ValueError(f"trainer must be one of {SOURCE_TRAINERS}, got {job.trainer!r}")


# --------------------------------------------------------------------------- oracle
def actable_states(model: tabular.TabularModel) -> NDArray[np.bool_]:
    """States the agent can be asked to act in: reachable from the start without ending
    the episode."""
    seen = np.zeros(model.num_states, dtype=bool)
    seen[model.start] = True
    frontier = [model.start]
    while frontier:
        state = frontier.pop()
        live = (model.prob[state] > 0) & ~model.terminal[state]
        for nxt in np.unique(model.next_state[state][live]):
            if not seen[nxt]:
                seen[nxt] = True
                frontier.append(int(nxt))
    return seen


@functools.lru_cache(maxsize=1024)
def grid_task_data(env_id: str, task_id: int, gamma: float, seed: int) -> dict[str, NDArray[Any]]:
    """A grid task's discounted Q* on every state, and one sampled outcome of every (state,
    action) for the TD term. Cached (read-only arrays): Reptile revisits tasks many times."""
    family = gym_metatasks.family(env_id)
    rng = np.random.default_rng([seed, task_id])
    model = family.model(task_id)  # type: ignore[attr-defined]
    num_states, num_actions = model.num_states, model.num_actions
    eye = np.eye(num_states, dtype=np.float32)
    valid = actable_states(model)
    states = np.repeat(np.arange(num_states), num_actions)
    actions = np.tile(np.arange(num_actions), num_states)
    probs = model.prob[states, actions]
    picks = np.array([rng.choice(probs.shape[1], p=p) for p in probs])
    data = {
        "q_star": tabular.discounted_optimal_q_values(model, gamma).astype(np.float32),
        "fit_obs": eye,
        "fit_mask": valid,
        "obs": eye[states],
        "action": actions.astype(np.int64),
        "reward": model.reward[states, actions, picks].astype(np.float32),
        "next_obs": eye[model.next_state[states, actions, picks]],
        "terminated": model.terminal[states, actions, picks].astype(np.float32),
        "transition_mask": valid[states],
    }
    for array in data.values():
        array.flags.writeable = False
    return data


def _oracle_sources(job: SourceJob) -> list[SourceResult]:
    family = gym_metatasks.family(job.env_id)
    if getattr(family, "oracle", None) != "exact":
        raise ValueError(
            f"trainer 'oracle' needs a family with an exact oracle; {job.env_id} has none"
        )
    num_states = family.num_states  # type: ignore[attr-defined]
    if job.arch.obs_dim != num_states:
        raise ValueError(
            f"method 'oracle' needs one-hot cell observations (obs_dim {num_states}), "
            f"got obs_dim {job.arch.obs_dim}"
        )
    start = time.process_time()
    data = [grid_task_data(job.env_id, t, job.gamma, job.seed) for t in job.task_ids]
    torch.manual_seed(job.seed + job.task_ids[0])
    init = qnet.stack([to_torch(layers) for layers in job.init])
    params = [(w.clone().requires_grad_(), b.clone().requires_grad_()) for w, b in init]
    optimizer = torch.optim.Adam([p for pair in params for p in pair], lr=3e-3)
    obs = torch.as_tensor(np.stack([d["fit_obs"] for d in data]))
    target = torch.as_tensor(np.stack([d["q_star"] for d in data]))
    mask = torch.as_tensor(np.stack([d["fit_mask"] for d in data])).float().unsqueeze(-1)
    activation = job.arch.activation_module()
    loss = torch.zeros(())
    for _ in range(job.timesteps):
        pred = qnet.batched_forward(params, obs, activation)
        loss = (((pred - target) ** 2) * mask).sum() / (mask.sum() * pred.shape[-1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = (time.process_time() - start) / len(job.task_ids)
    results = []
    for k, task_id in enumerate(job.task_ids):
        d = data[k]
        results.append(
            SourceResult(
                task_id=task_id,
                layers=to_numpy(qnet.index(params, k)),
                provenance={
                    "method": "oracle",
                    "regression_steps": job.timesteps,
                    "batch_loss": float(loss.item()),
                    "cpu_seconds": seconds,
                },
                fit_obs=d["fit_obs"],
                fit_mask=d["fit_mask"],
                obs=d["obs"],
                action=d["action"],
                reward=d["reward"],
                next_obs=d["next_obs"],
                terminated=d["terminated"],
                transition_mask=d["transition_mask"],
            )
        )
    return results


# --------------------------------------------------------------------------- DQN
#: Greedy episodes behind each evaluation of a DQN source's checkpoints.
KEEP_BEST_EPISODES = 5
#: Greedy episodes at most that supply a DQN source's on-policy fit states.
FIT_EPISODES = 10


class _KeepBest(BaseCallback):
    """Greedy return every ``timesteps // evaluations`` steps; keeps the best parameters
    (the latest among ties). DQN's return oscillates; the final weights are often in a dip."""

    def __init__(
        self, env: Any, job: SourceJob, evaluations: int = 10, episodes: int = KEEP_BEST_EPISODES
    ):
        super().__init__()
        self.env, self.episodes = env, episodes
        self.every = max(1, job.timesteps // evaluations)
        self.seed = job.seed
        self.best = -np.inf
        self.best_step = 0
        self.best_layers: qnet.Layers = to_torch(job.init[0])
        self.returns: list[float] = []

    def evaluate(self, model: Any) -> None:
        score = greedy_return(model, self.env, self.episodes, self.seed)
        self.returns.append(score)
        if score >= self.best:
            self.best, self.best_step = score, model.num_timesteps
            self.best_layers = qnet.get_layers(model.q_net)

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            self.evaluate(self.model)
        return True


def _dqn_source(job: SourceJob, k: int) -> SourceResult:
    task_id = job.task_ids[k]
    start = time.process_time()
    env = gym_metatasks.family(job.env_id).make(task_id)
    kwargs = {"gamma": job.gamma, **job.dqn_kwargs}
    policy_kwargs = {"net_arch": list(job.arch.net_arch), **kwargs.pop("policy_kwargs", {})}
    model = DQN("MlpPolicy", env, seed=job.seed + task_id, policy_kwargs=policy_kwargs, **kwargs)
    layers = to_torch(job.init[k])
    qnet.set_layers(model.q_net, layers)
    qnet.set_layers(model.q_net_target, layers)
    keeper = _KeepBest(gym_metatasks.family(job.env_id).make(task_id), job)
    model.learn(job.timesteps, callback=keeper)
    keeper.evaluate(model)
    qnet.set_layers(model.q_net, keeper.best_layers)
    policy_obs, policy_mask = _greedy_states(
        model, keeper.env, job.num_transitions, job.seed + task_id
    )
    buffer = model.replay_buffer
    assert buffer is not None
    size = buffer.buffer_size if buffer.full else buffer.pos
    rng = np.random.default_rng([job.seed, task_id])
    idx = np.sort(rng.choice(size, size=min(job.num_transitions, size), replace=False))
    space = env.observation_space

    obs = qnet.flat_observations(buffer.observations[idx, 0], space).numpy()
    next_obs = qnet.flat_observations(buffer.next_observations[idx, 0], space).numpy()
    terminated = buffer.dones[idx, 0] * (1 - buffer.timeouts[idx, 0])
    env.close()
    return SourceResult(
        task_id=task_id,
        layers=to_numpy(qnet.get_layers(model.q_net)),
        provenance={
            "method": "dqn",
            "timesteps": job.timesteps,
            "selected_at_step": keeper.best_step,
            "eval_returns": keeper.returns,
            "cpu_seconds": time.process_time() - start,
        },
        fit_obs=np.concatenate([policy_obs, obs]),
        fit_mask=np.concatenate([policy_mask, np.ones(len(obs), dtype=bool)]),
        obs=obs,
        action=buffer.actions[idx, 0].reshape(-1).astype(np.int64),
        reward=buffer.rewards[idx, 0].astype(np.float32),
        next_obs=next_obs,
        terminated=terminated.astype(np.float32),
        transition_mask=np.ones(len(obs), dtype=bool),
    )


def _greedy_states(
    model: Any, env: Any, count: int, seed: int
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """``count`` states the selected source's greedy policy visits on its task (evenly spaced
    over up to :data:`FIT_EPISODES` episodes; padded and masked out when fewer): the states
    where a mapped network's greedy action matters most, beside the replay buffer's."""
    visited = []
    for episode in range(FIT_EPISODES):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            visited.append(obs)
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(int(action))
            done = terminated or truncated
        if len(visited) >= count:
            break
    states = qnet.flat_observations(np.stack(visited), env.observation_space).numpy()
    picks = np.linspace(0, len(states) - 1, num=min(count, len(states))).round().astype(int)
    out = np.zeros((count, states.shape[1]), dtype=np.float32)
    out[: len(picks)] = states[picks]
    mask = np.zeros(count, dtype=bool)
    mask[: len(picks)] = True
    return out, mask
