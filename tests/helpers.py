"""Helpers shared by the test modules: env ids, task choices, tiny trainings, comparisons of
networks and writers of files that loaders must refuse. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gym_metatasks
from gym_metatasks.envs.grid import MOVES, move
from sb3_metadqn.nets import qnet

ALL_ENV_IDS = gym_metatasks.families()
GRID_ENV_IDS = [i for i in ALL_ENV_IDS if "Nav" in i or "FrozenLake" in i]
PHYSICS_ENV_IDS = [i for i in ALL_ENV_IDS if gym_metatasks.family(i).oracle == "reference"]

#: The family small enough for meta-training in unit tests.
TINY_ENV_ID = "MetaNav5x5-v0"


# ---------------------------------------------------------------------- tasks
def some_task_ids(env_id: str) -> list[int]:
    """The first and last train task and the first and last test task."""
    family = gym_metatasks.family(env_id)
    return [
        family.train_task_ids[0],
        family.train_task_ids[-1],
        family.test_task_ids[0],
        family.test_task_ids[-1],
    ]


def slippery_test_task_ids(family: Any) -> list[int]:
    """Test tasks of a grid family whose moves often go astray (slip > 0.1, or a frozen
    lake's success rate < 0.8): checks on them cover the stochastic dynamics."""
    return [
        t
        for t in family.test_task_ids
        if getattr(family.task(t), "slip", 0.0) > 0.1
        or getattr(family.task(t), "success_rate", 1.0) < 0.8
    ]


def shortest_path_actions(
    size: int, walls: frozenset[tuple[int, int]], goal: tuple[int, int]
) -> tuple[dict[tuple[int, int], int], np.ndarray]:
    """Breadth-first distances to the goal, and an action per cell that shortens it."""
    dist, frontier = {goal: 0}, [goal]
    while frontier:
        nxt = []
        for cell in frontier:
            for a in range(len(MOVES)):
                c = move(cell, a, size, walls)
                if c not in dist:  # moves are reversible: c is one step from cell
                    dist[c] = dist[cell] + 1
                    nxt.append(c)
        frontier = nxt
    actions = np.zeros(size * size, dtype=np.int64)
    for (r, c), d in dist.items():
        for a in range(len(MOVES)):
            if dist.get(move((r, c), a, size, walls), np.inf) == d - 1:
                actions[r * size + c] = a
                break
    return dist, actions


# ---------------------------------------------------------------------- tiny training
def tiny_meta_train(**overrides: object) -> Any:
    """A meta-learner small enough for unit tests (seconds, not minutes)."""
    from sb3_metadqn import meta_train

    kwargs: dict[str, object] = {
        "num_sources": 8,
        "rounds": 2,
        "chunk_size": 4,
        "source_timesteps": 100,
        "mapper_steps": 20,
        "keep_sources": 6,
        "backend": "serial",
        "seed": 0,
    }
    kwargs.update(overrides)
    return meta_train(TINY_ENV_ID, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- comparisons
def layers_equal(a: qnet.Layers, b: qnet.Layers) -> bool:
    """Two networks (``[(W, b), ...]``) hold exactly the same parameters."""
    return all(
        torch.equal(w1, w2) and torch.equal(b1, b2) for (w1, b1), (w2, b2) in zip(a, b, strict=True)
    )


def tensors_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Two name-to-tensor mappings (state dicts, artifact tensors) are exactly the same:
    the same names, and every tensor equal."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------- files
def write_pickle_bomb(path: Path) -> Path:
    """A pickle at ``path`` that fails the test if anything unpickles it (loaders must
    refuse pickles without loading them)."""

    class Bomb:
        def __reduce__(self) -> Any:
            return (pytest.fail, ("the file was deserialized",))

    path.write_bytes(pickle.dumps(Bomb()))
    return path


# ---------------------------------------------------------------------- probe transitions
def random_transitions(env: Any, steps: int, seed: int) -> dict[str, torch.Tensor]:
    """``steps`` random-action transitions of a one-hot grid env (reset when an episode
    ends), in the form ``initial_parameters(..., transitions=)`` takes."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {k: [] for k in ("obs", "action", "reward", "next_obs", "done")}
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        action = int(rng.integers(env.action_space.n))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(rows, (obs, action, reward, next_obs, terminated), strict=True):
            rows[key].append(value)
        obs = env.reset()[0] if terminated or truncated else next_obs
    return {
        "obs": torch.as_tensor(np.array(rows["obs"], dtype=np.float32)),
        "action": torch.as_tensor(np.array(rows["action"])),
        "reward": torch.as_tensor(np.array(rows["reward"], dtype=np.float32)),
        "next_obs": torch.as_tensor(np.array(rows["next_obs"], dtype=np.float32)),
        "terminated": torch.as_tensor(np.array(rows["done"], dtype=np.float32)),
    }


def td_error(layers: qnet.Layers, transitions: dict[str, torch.Tensor], gamma: float) -> float:
    """Mean squared one-step TD error of a ReLU MLP on transitions, its own max as the
    target: written out here, apart from the package's batched forward pass."""

    def q(obs: torch.Tensor) -> torch.Tensor:
        for k, (w, b) in enumerate(layers):
            obs = obs @ w.T + b
            if k < len(layers) - 1:
                obs = torch.relu(obs)
        return obs

    with torch.no_grad():
        q_sa = q(transitions["obs"])[
            torch.arange(len(transitions["action"])), transitions["action"]
        ]
        best_next = q(transitions["next_obs"]).max(dim=1).values
        target = transitions["reward"] + gamma * (1.0 - transitions["terminated"]) * best_next
        return float(((q_sa - target) ** 2).mean())
