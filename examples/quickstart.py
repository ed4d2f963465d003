"""Quick start: a task of a family, its descriptor, splits and oracle returns.

``python examples/quickstart.py [--env-id MetaNav-v0] [--task-id 3]``
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

import gym_metatasks  # registers the families


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="MetaNav-v0", help="a registered family id")
    parser.add_argument("--task-id", type=int, default=3, help="the task to play")
    args = parser.parse_args(argv)

    # --8<-- [start:body]
    env = gym.make(args.env_id, task_id=args.task_id)  # the same task in every process
    _, info = env.reset(seed=0)  # the seed drives the dynamics, never the task
    print(f"{args.env_id} task {info['task_id']}: descriptor shape {info['task_descriptor'].shape}")

    family = gym_metatasks.family(args.env_id)  # the family API needs no env
    print(f"parameters: {family.task(args.task_id)}")
    print(
        f"splits: {len(family.train_task_ids)} train, {len(family.validation_task_ids)} "
        f"validation, {len(family.test_task_ids)} test (first test task {family.test_task_ids[0]})"
    )

    episode_return, done = 0.0, False
    env.action_space.seed(0)
    while not done:
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        episode_return += float(reward)
        done = terminated or truncated
    env.close()
    optimal, random = family.optimal_return(args.task_id), family.random_return(args.task_id)
    normalized = family.normalized_return(args.task_id, episode_return)
    print(
        f"one random episode: return {episode_return:.3f} (normalized {normalized:.3f}); "
        f"{family.oracle} optimal {optimal:.3f}, expected random {random:.3f}"
    )
    # --8<-- [end:body]
    return {
        "return": episode_return,
        "optimal": optimal,
        "random": random,
        "normalized": normalized,
    }


if __name__ == "__main__":
    main()
