"""MetaDQN on a held-out task: the embedded meta-learner's start, then a little DQN training,
both scored exactly by the family's oracle.

``python examples/metadqn_held_out.py [--env-id MetaNav-v0] [--task-id N] [--timesteps 2000]``
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import gym_metatasks
from sb3_metadqn import MetaDQN


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="MetaNav-v0", help="a family with an exact oracle")
    parser.add_argument("--task-id", type=int, default=None, help="default: first test task")
    parser.add_argument("--timesteps", type=int, default=2000, help="DQN steps after the start")
    args = parser.parse_args(argv)

    # --8<-- [start:body]
    family = gym_metatasks.family(args.env_id)
    task_id = family.test_task_ids[0] if args.task_id is None else args.task_id
    print(f"{args.env_id} task {task_id} ({family.split_of(task_id)} split)")

    model = MetaDQN("MlpPolicy", family.make(task_id), seed=0)  # embedded meta-learner
    init = model.meta_init or {}
    print(
        f"initialized from source task {init['source_task_id']} "
        f"(descriptor distance {init['descriptor_distance']:.3f})"
    )
    start = family.normalized_return(task_id, family.policy_return(task_id, model))
    print(f"before any update: normalized return {start:.3f} (exact)")
    model.learn(args.timesteps)
    after = family.normalized_return(task_id, family.policy_return(task_id, model))
    print(f"after {args.timesteps} steps: normalized return {after:.3f} (exact)")
    # --8<-- [end:body]
    return {"task_id": task_id, "start": start, "after": after, "meta_init": init}


if __name__ == "__main__":
    main()
