"""Showcase: the registered families, then an optimal rollout on a held-out MetaNav task.

``python -m gym_metatasks [--env-id MetaNav-v0] [--task-id N]``
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
import numpy as np

import gym_metatasks
from gym_metatasks.envs.grid import GridFamily


def describe_space(space: gym.Space[Any]) -> str:
    """A short name of a space: ``Box(4,) float32`` or ``Discrete(64)``."""
    if isinstance(space, gym.spaces.Box):
        return f"Box{space.shape} {space.dtype}"
    return str(space)


def family_table() -> str:
    """One row per registered family configuration."""
    header = (
        "env id",
        "obs space",
        "actions",
        "D",
        "train",
        "validation",
        "test",
        "oracle",
        "horizon",
    )
    rows = [header]
    for env_id in gym_metatasks.families():
        family = gym_metatasks.family(env_id)
        env = family.make(family.test_task_ids[0])
        rows.append(
            (
                env_id,
                describe_space(env.observation_space),
                str(env.action_space),
                str(len(family.descriptor_names)),
                str(len(family.train_task_ids)),
                str(len(family.validation_task_ids)),
                str(len(family.test_task_ids)),
                family.oracle,
                str(family.horizon),
            )
        )
        env.close()
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def optimal_rollout(env_id: str, task_id: int | None) -> None:
    """Play the oracle's optimal policy on a grid task and print every frame."""
    family = gym_metatasks.family(env_id)
    if not isinstance(family, GridFamily):
        raise ValueError(f"--env-id must be a grid family, got {env_id!r}")
    task_id = family.test_task_ids[0] if task_id is None else task_id
    q_values = family.optimal_q_values(task_id)
    env = gym.make(env_id, task_id=task_id, render_mode="ansi")
    _, info = env.reset(seed=0)
    print(f"\n{env_id} task {task_id} (split: {family.split_of(task_id)})")
    print(f"parameters: {family.task(task_id)}")
    print(env.render())
    state, total, step, done = int(family.model(task_id).start), 0.0, 0, False
    while not done:
        action = int(np.argmax(q_values[family.horizon - step, state]))
        observation, reward, terminated, truncated, info = env.step(action)
        state = int(np.argmax(observation)) if np.ndim(observation) else int(observation)
        total, step, done = total + float(reward), step + 1, terminated or truncated
        print(env.render())
    print(
        f"return {total:.3f} in {step} steps (success: {info['is_success']}); "
        f"expected optimal {family.optimal_return(task_id):.3f}, "
        f"random {family.random_return(task_id):.3f}, "
        f"normalized {family.normalized_return(task_id, total):.3f}"
    )
    env.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gym_metatasks", description=__doc__)
    parser.add_argument("--env-id", default="MetaNav-v0", help="a grid family id")
    parser.add_argument("--task-id", type=int, default=None, help="default: first test task")
    args = parser.parse_args(argv)
    print(family_table())
    optimal_rollout(args.env_id, args.task_id)


if __name__ == "__main__":
    main()
