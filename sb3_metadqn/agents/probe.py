"""Probes of the target task that choose among candidate starts before learning: random-action
transitions that rank them by TD error, or greedy episodes that rank them by return."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from sb3_metadqn.nets import qnet


def probe_transitions(
    env: VecEnv, steps: int, action_space: spaces.Space[Any]
) -> dict[str, torch.Tensor]:
    """``steps`` random-action transitions of ``env`` (reset first; the caller's ``learn``
    resets it again): flattened ``obs``, ``next_obs``, ``action``, ``reward`` and
    ``terminated`` (time-limit truncations are not terminations)."""
    obs = np.asarray(env.reset())
    rows: dict[str, list[Any]] = {
        k: [] for k in ("obs", "action", "reward", "next_obs", "terminated")
    }
    per_step = env.num_envs
    for _ in range(max(1, steps // per_step)):
        actions = np.array([action_space.sample() for _ in range(per_step)])
        stepped, rewards, dones, infos = env.step(actions)
        next_obs = np.asarray(stepped)
        for k in range(per_step):
            info: dict[str, Any] = infos[k]
            final = info.get("terminal_observation") if dones[k] else None
            real_next = final if final is not None else next_obs[k]
            timeout = info.get("TimeLimit.truncated", False)
            rows["obs"].append(obs[k])
            rows["action"].append(actions[k])
            rows["reward"].append(rewards[k])
            rows["next_obs"].append(real_next)
            rows["terminated"].append(float(dones[k] and not timeout))
        obs = next_obs
    observation_space = env.observation_space
    return {
        "obs": qnet.flat_observations(np.array(rows["obs"]), observation_space),
        "next_obs": qnet.flat_observations(np.array(rows["next_obs"]), observation_space),
        "action": torch.as_tensor(np.array(rows["action"]).reshape(-1)),
        "reward": torch.as_tensor(np.array(rows["reward"], dtype=np.float32)),
        "terminated": torch.as_tensor(np.array(rows["terminated"], dtype=np.float32)),
    }


def check_probe_args(candidates: int, probe_steps: int, probe_episodes: int) -> None:
    """Clear errors for ``meta_candidates``, ``meta_probe_steps`` and ``meta_probe_episodes``."""
    for name, value, least in (
        ("meta_candidates", candidates, 1),
        ("meta_probe_steps", probe_steps, 0),
        ("meta_probe_episodes", probe_episodes, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    if probe_steps > 0 and probe_episodes > 0:
        raise ValueError(
            f"meta_probe_steps={probe_steps} (rank by TD error) and meta_probe_episodes="
            f"{probe_episodes} (rank by return) are two probes: pass one of them"
        )
    if candidates > 1 and probe_steps == 0 and probe_episodes == 0:
        raise ValueError(
            f"meta_candidates={candidates} ranks the nearest sources with a probe: pass "
            "meta_probe_episodes > 0 (by greedy return) or meta_probe_steps > 0 (by TD error), "
            "or meta_candidates=1"
        )


def greedy_episode_returns(
    env: VecEnv, episodes: int, act: Callable[[Any], np.ndarray], seed: int
) -> tuple[list[float], int]:
    """The undiscounted returns of the first ``episodes`` episodes the policy ``act`` plays on
    ``env`` after ``env.seed(seed)`` and a reset, in the order they end, and the env steps
    taken (every sub-env's step counts)."""
    env.seed(seed)
    obs = env.reset()
    running = np.zeros(env.num_envs)
    finished: list[float] = []
    steps = 0
    while len(finished) < episodes:
        obs, rewards, dones, _ = env.step(act(obs))
        steps += env.num_envs
        running += rewards
        for k in np.flatnonzero(dones):
            finished.append(float(running[k]))
            running[k] = 0.0
    return finished[:episodes], steps


def probe_returns(
    env: VecEnv,
    starts: list[Any],
    episodes: int,
    load: Callable[[Any], None],
    act: Callable[[Any], np.ndarray],
    seed: int,
) -> tuple[list[float], int]:
    """Mean return of each start's greedy policy over the same ``episodes`` episodes of
    ``env`` (each start plays from ``env.seed(seed)``; the caller's ``learn`` resets the env
    again), and the env steps all of them took.

    :param load: puts a start into the Q-network
    :param act: greedy actions for a batch of observations
    """
    returns, steps = [], 0
    for start in starts:
        load(start)
        played, taken = greedy_episode_returns(env, episodes, act, seed)
        returns.append(float(np.mean(played)))
        steps += taken
    return returns, steps


def best_by_return(
    env: VecEnv,
    starts: list[tuple[Any, dict[str, Any]]],
    episodes: int,
    load: Callable[[Any], None],
    act: Callable[[Any], np.ndarray],
    seed: int,
) -> tuple[Any, dict[str, Any]]:
    """The start (of ``(layers, record)`` pairs) whose greedy policy returns most over the
    same ``episodes`` episodes of ``env`` (the nearer one on ties), and the record of the
    choice: its own record plus every candidate's probe return and the probe's env steps."""
    layers_only = [layers for layers, _ in starts]
    returns, steps = probe_returns(env, layers_only, episodes, load, act, seed)
    best = int(np.argmax(returns))
    layers, chosen = starts[best]
    record = {
        "candidates": len(starts),
        "selection": "probe_return",
        **chosen,
        "probe_returns": {
            str(r["source_task_id"]): v for (_, r), v in zip(starts, returns, strict=True)
        },
        "probe_episodes": episodes,
        "probe_env_steps": steps,
    }
    return layers, record
