"""Probe transitions: random-action steps of a task that rank candidate sources."""

from __future__ import annotations

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
