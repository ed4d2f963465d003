"""Shared fixtures: every registered id and a few task ids of each."""

from __future__ import annotations

import gym_metatasks

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
