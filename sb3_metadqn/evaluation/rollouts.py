"""Greedy rollouts: the deterministic policy's return on a task, exact where the family has
a model of the task (``family.policy_return``, dynamic programming), else the mean over
sampled episodes.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

#: Sampled episodes of a jumpstart, at least, where no exact model exists.
JUMPSTART_EPISODES = 20


def greedy_return(model: Any, env: Any, episodes: int, seed: int) -> float:
    """Mean undiscounted return of the deterministic policy over ``episodes`` episodes."""
    total = 0.0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def greedy_return_batched(model: Any, envs: list[gym.Env[Any, Any]], seed: int) -> float:
    """Mean undiscounted return of the deterministic policy over one episode in each env
    (seeds ``seed, seed + 1, ...``: the episodes of :func:`greedy_return`), stepped together
    so that the model acts on one batch of observations per step."""
    observations = [env.reset(seed=seed + k)[0] for k, env in enumerate(envs)]
    totals = np.zeros(len(envs))
    live = list(range(len(envs)))
    while live:
        actions, _ = model.predict(_stack([observations[k] for k in live]), deterministic=True)
        still = []
        for k, action in zip(live, np.asarray(actions).reshape(len(live)), strict=True):
            obs, reward, terminated, truncated, _ = envs[k].step(int(action))
            observations[k], totals[k] = obs, totals[k] + float(reward)
            if not (terminated or truncated):
                still.append(k)
        live = still
    return float(totals.mean())


def _stack(observations: list[Any]) -> Any:
    """A batch of observations (dict observations stacked key by key)."""
    if isinstance(observations[0], dict):
        return {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    return np.stack([np.asarray(o) for o in observations])


def has_exact_model(family: Any) -> bool:
    """Whether ``family.policy_return`` evaluates a policy exactly."""
    return getattr(family, "oracle", None) == "exact" and hasattr(family, "model")


def state_observations(env: gym.Env[Any, Any]) -> list[Any]:
    """The observation of every state of a grid task's ``env`` as the agent sees it: the
    family's observation of each state passed through ``env``'s observation wrappers."""
    wrappers = []
    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        wrappers.append(inner)
        inner = inner.env
    observations = inner.family.state_observations()
    for wrapper in reversed(wrappers):
        if isinstance(wrapper, gym.ObservationWrapper):
            observations = [wrapper.observation(o) for o in observations]
    return observations


def greedy_actions(model: Any, env: gym.Env[Any, Any]) -> np.ndarray:
    """``model``'s deterministic action in every state of a grid task, ``(num_states,)``;
    ``env`` is the task's env as the model observes it."""
    observations = state_observations(env)
    actions, _ = model.predict(_stack(observations), deterministic=True)
    return np.asarray(actions, dtype=np.int64).reshape(len(observations))


def greedy_value(
    model: Any, family: Any, task_id: int, env: gym.Env[Any, Any], episodes: int, seed: int
) -> float:
    """The greedy policy's expected return: exact where the family has a model, else the
    mean over ``episodes`` sampled episodes (seeds ``seed, seed + 1, ...``)."""
    if has_exact_model(family):
        return float(family.policy_return(task_id, greedy_actions(model, env)))
    return greedy_return(model, env, episodes, seed)
