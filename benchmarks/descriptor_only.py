"""How much of the optimal return a policy that knows only the task descriptor reaches, by
the exact oracle (families with an exact model).

For each evaluated task, the candidates are the optimal policies (greedy on Q* with the full
time limit left) of the ``neighbours`` train tasks nearest in descriptor space; the policy
chosen is the candidate with the best mean normalized return over those same neighbours, so
the choice reads the descriptor alone, never the evaluated task. Its exact normalized return
on the evaluated task is reported, next to the nearest train task's optimal policy
(``neighbours=1``) and the task's own stationary optimal policy (the ceiling). The first is
a lower bound on the best descriptor-only policy.

    python -m benchmarks.descriptor_only --env-id MetaRecommend-v0
    python -m benchmarks.descriptor_only --split validation --neighbours 1 10 30

Results go to ``<output-dir>/descriptor_only_<env_id>_<split>.json`` and ``.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import gym_metatasks
from benchmarks.common import build_parser, environment_info, equivalent_command
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

MODULE = "benchmarks.descriptor_only"


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field (``--env-id``, ``--neighbours``, ...)."""

    env_id: str = "MetaRecommend-v0"
    """a registered family with an exact oracle"""
    split: str = "test"
    """the tasks evaluated: ``validation`` (where ``neighbours`` is chosen) or ``test``"""
    neighbours: tuple[int, ...] = (1, 10)
    """sizes of the descriptor neighbourhood the policy is chosen from (one row each)"""
    tasks: int = 0
    """evaluate the first N tasks of the split (0: every one)"""
    output_dir: str = "benchmarks/results/descriptor_only"
    """directory of the JSON and CSV"""
    quiet: bool = False
    """print nothing"""


def optimal_policy(family: Any, task_id: int) -> np.ndarray:
    """The stationary greedy policy on Q* with the whole time limit left, ``(num_states,)``."""
    return np.asarray(family.optimal_q_values(task_id)[family.horizon].argmax(axis=1))


def descriptor_policy(
    family: Any,
    descriptor: np.ndarray,
    train_ids: list[int],
    train_descriptors: np.ndarray,
    policies: dict[int, np.ndarray],
    neighbours: int,
) -> np.ndarray:
    """The neighbours' optimal policy with the best mean normalized return over them."""
    distances = np.linalg.norm(train_descriptors - descriptor, axis=1)
    near = [train_ids[j] for j in np.argsort(distances, kind="stable")[:neighbours]]
    if neighbours == 1:
        return policies[near[0]]
    scores = [
        np.mean([family.normalized_return(t, family.policy_return(t, policies[c])) for t in near])
        for c in near
    ]
    return policies[near[int(np.argmax(scores))]]


def summarize(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "mean": float(array.mean()),
        "median": float(np.median(array)),
        "q25": float(np.percentile(array, 25)),
        "q75": float(np.percentile(array, 75)),
        "share_at_least_0.9": float((array >= 0.9).mean()),
    }


def main(args: Args) -> dict[str, Any]:
    """Evaluate the descriptor-only policies on ``args.split``; write and return the result."""
    family = gym_metatasks.family(args.env_id)
    if getattr(family, "oracle", None) != "exact" or not hasattr(family, "model"):
        raise ValueError(f"env_id must name a family with an exact model, got {args.env_id!r}")
    if args.split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {args.split!r}")
    if not args.neighbours or min(args.neighbours) < 1:
        raise ValueError(f"neighbours must be positive ints, got {args.neighbours}")
    say = (lambda *_: None) if args.quiet else (lambda *a: print(*a, flush=True))
    t0 = time.perf_counter()
    train_ids = [int(t) for t in family.train_task_ids]
    train_descriptors = np.stack([family.descriptor(t) for t in train_ids])
    policies = {t: optimal_policy(family, t) for t in train_ids}
    tasks = [int(t) for t in family.split_task_ids(args.split)]
    tasks = tasks[: args.tasks or len(tasks)]
    rows = []
    for task_id in tasks:
        own = family.policy_return(task_id, optimal_policy(family, task_id))
        row: dict[str, Any] = {
            "task_id": task_id,
            "optimal_return": family.optimal_return(task_id),
            "random_return": family.random_return(task_id),
            "own_stationary": family.normalized_return(task_id, own),
        }
        for k in args.neighbours:
            policy = descriptor_policy(
                family, family.descriptor(task_id), train_ids, train_descriptors, policies, k
            )
            row[f"neighbours_{k}"] = family.normalized_return(
                task_id, family.policy_return(task_id, policy)
            )
        rows.append(row)
    columns = ["own_stationary", *(f"neighbours_{k}" for k in args.neighbours)]
    result: dict[str, Any] = {
        "benchmark": "descriptor_only",
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
        "equivalent_command": equivalent_command(MODULE, args),
        "args": dataclasses.asdict(args),
        "environment": environment_info(),
        "duration_s": time.perf_counter() - t0,
        "summary": {c: summarize([row[c] for row in rows]) for c in columns},
        "rows": rows,
    }
    out = Path(args.output_dir) / f"descriptor_only_{args.env_id}_{args.split}"
    write_atomic(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out.with_suffix(".csv"), buffer.getvalue())
    for column in columns:
        s = result["summary"][column]
        say(
            f"{column:<16} mean {s['mean']:.3f}  median {s['median']:.3f}  "
            f"IQR [{s['q25']:.3f}, {s['q75']:.3f}]  >= 0.9: {s['share_at_least_0.9']:.2f}"
        )
    say(f"{len(rows)} {args.split} tasks of {args.env_id}, {result['duration_s']:.0f} s")
    return result


def parse_args(argv: Sequence[str] | None = None) -> Args:
    parser = build_parser(Args, MODULE, __doc__ or "", choices={"split": ["validation", "test"]})
    return common_parse_args(parser, Args, argv)


if __name__ == "__main__":
    main(parse_args())
