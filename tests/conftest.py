"""Shared fixtures: every registered id and a few task ids of each."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gym_metatasks
from gym_metatasks.envs.grid import MOVES, move

# Two xdist workers on two cores: one torch thread each, or they spin against each other.
torch.set_num_threads(1)

ALL_ENV_IDS = gym_metatasks.families()
GRID_ENV_IDS = [i for i in ALL_ENV_IDS if "Nav" in i or "FrozenLake" in i]
PHYSICS_ENV_IDS = [i for i in ALL_ENV_IDS if i not in GRID_ENV_IDS]


def some_task_ids(env_id: str) -> list[int]:
    """The first and last train task and the first and last test task."""
    family = gym_metatasks.family(env_id)
    return [
        family.train_task_ids[0],
        family.train_task_ids[-1],
        family.test_task_ids[0],
        family.test_task_ids[-1],
    ]


def shortest_path_actions(size, walls, goal):
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


TINY_ENV_ID = "MetaNav5x5-v0"


def tiny_meta_train(**overrides: object) -> object:
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


@pytest.fixture(scope="session")
def tiny_learner() -> object:
    return tiny_meta_train()


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory, tiny_learner: object) -> object:
    path = tmp_path_factory.mktemp("artifact") / "tiny.safetensors"
    tiny_learner.save(path)  # type: ignore[attr-defined]
    return path
