"""Task switching: per reset, scheduled for the next reset, across a vector env, and
resampled from a split at every reset.

``python examples/task_switching.py [--env-id MetaNav-v0]``
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

import gym_metatasks
from gym_metatasks import ObserveDescriptor, ResampleTask


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="MetaNav-v0", help="a registered family id")
    args = parser.parse_args(argv)
    family = gym_metatasks.family(args.env_id)
    seen: dict[str, Any] = {}

    env = gym.make(args.env_id)  # task 0
    _, info = env.reset(options={"task_id": 7})  # switch at this reset
    seen["reset_option"] = info["task_id"]
    env.unwrapped.set_task(9)  # takes effect at the next reset
    _, info = env.reset()
    seen["set_task"] = info["task_id"]
    env.close()

    envs = family.make_vec(family.test_task_ids[:3])  # one task per sub-env
    envs.set_attr("task_id", list(family.validation_task_ids[:3]))  # from the next reset on
    _, infos = envs.reset(seed=0)
    seen["vector"] = [int(t) for t in infos["task_id"]]
    envs.close()

    resampled = ResampleTask(gym.make(args.env_id), split="train", seed=0)
    seen["resampled"] = [resampled.reset()[1]["task_id"] for _ in range(4)]
    resampled.close()

    observed = ObserveDescriptor(gym.make(args.env_id, task_id=3))  # the descriptor joins it
    observation, _ = observed.reset(seed=0)
    seen["observation_size"] = observation.shape[0]
    observed.close()

    for key, value in seen.items():
        print(f"{key}: {value}")
    return seen


if __name__ == "__main__":
    main()
