"""Measure and store the random-policy returns of every numbered physics task.

Run ``python -m gym_metatasks.reference_data`` after changing a physics family (which
also needs a new ``-vN`` id). The file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium as gym

from gym_metatasks.atomic_io import write_atomic
from gym_metatasks.envs.acrobot import AcrobotFamily
from gym_metatasks.envs.cartpole import CartPoleFamily
from gym_metatasks.envs.mountain_car import MountainCarFamily
from gym_metatasks.envs.physics import RANDOM_RETURN_SEED, RANDOM_RETURNS_FILE, PhysicsFamily

PHYSICS_FAMILIES: tuple[type[PhysicsFamily[Any]], ...] = (
    CartPoleFamily,
    AcrobotFamily,
    MountainCarFamily,
)


def _measure(job: tuple[type[PhysicsFamily[Any]], int]) -> tuple[float, float]:
    family_class, task_id = job
    return family_class().measure_random_return(task_id)


def measure_family(family_class: type[PhysicsFamily[Any]], workers: int) -> dict[str, Any]:
    """Random-return table of one family at its registered horizon."""
    family = family_class()
    jobs = [(family_class, task_id) for task_id in range(family.num_tasks)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_measure, jobs, chunksize=8))
    return {
        "horizon": family.registered_horizon,
        "episodes": family.random_return_episodes,
        "seed": RANDOM_RETURN_SEED,
        "gymnasium": gym.__version__,
        "mean": [round(mean, 6) for mean, _ in results],
        "stderr": [round(stderr, 6) for _, stderr in results],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(str(resources.files("gym_metatasks") / "data" / RANDOM_RETURNS_FILE)),
    )
    parser.add_argument(
        "--family",
        action="append",
        choices=[cls.base_env_id() for cls in PHYSICS_FAMILIES],
        help="measure only these families (repeatable), keeping the others' stored tables",
    )
    args = parser.parse_args(argv)
    table = json.loads(args.output.read_text(encoding="utf-8")) if args.output.is_file() else {}
    for cls in PHYSICS_FAMILIES:
        if args.family is None or cls.base_env_id() in args.family:
            table[cls.base_env_id()] = measure_family(cls, args.workers)
    write_atomic(args.output, json.dumps(table, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
