"""learn() throughput: env steps per second of MetaDQN.learn() vs. DQN.learn().

Same env, task, seed and hyperparameters (MetaDQN's exploration passed to all); interleaved
repeats in one process with one torch thread; ratios of medians. Three runs per repeat:

- ``MetaDQN``: the warm-started model;
- ``DQN (same init)``: plain DQN with MetaDQN's initial weights copied in: the same
  episodes, so the ratio isolates what the subclass costs inside learn();
- ``DQN``: plain DQN from its random init: a different agent whose (longer, stuck)
  episodes reset less often, so this ratio also reflects the behaviour, not only the code.

Construction (the meta-learner's initialization) is timed separately.

    python -m benchmarks.learn_throughput
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import build_parser, environment_info, equivalent_command
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field."""

    env_id: str = "MetaNav-v0"
    """family (its first test task is used)"""
    steps: int = 10_000
    """env steps per learn() call"""
    repeats: int = 5
    """interleaved measurements per class"""
    seed: int = 0
    """seed of every model"""
    output_dir: str = str(RESULTS_DIR)
    """where the JSON goes"""


def main(args: Args) -> dict[str, Any]:
    import torch
    from stable_baselines3 import DQN

    import gym_metatasks
    from sb3_metadqn import MetaDQN
    from sb3_metadqn.nets import qnet

    torch.set_num_threads(1)
    family = gym_metatasks.family(args.env_id)
    task_id = family.test_task_ids[0]
    shared = {
        "learning_starts": 1000,
        "exploration_initial_eps": 0.05,
        "exploration_final_eps": 0.05,
    }
    names = ("MetaDQN", "DQN (same init)", "DQN")
    timings: dict[str, list[float]] = {name: [] for name in names}
    construct: list[float] = []
    warm_model = MetaDQN("MlpPolicy", family.make(task_id), seed=args.seed, **shared)
    warm = qnet.get_layers(warm_model.q_net)
    for repeat in range(args.repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            env = family.make(task_id)
            start = time.perf_counter()
            cls = MetaDQN if name == "MetaDQN" else DQN
            model = cls("MlpPolicy", env, seed=args.seed, **shared)
            if name == "MetaDQN":
                construct.append(time.perf_counter() - start)
            if name == "DQN (same init)":
                qnet.set_layers(model.q_net, warm)
                qnet.set_layers(model.q_net_target, warm)
            start = time.perf_counter()
            model.learn(args.steps)
            timings[name].append(args.steps / (time.perf_counter() - start))
            print(
                f"[{repeat + 1}/{args.repeats}] {name:<16} {timings[name][-1]:8.0f} steps/s",
                flush=True,
            )
    medians = {name: statistics.median(values) for name, values in timings.items()}
    report = {
        "benchmark": "learn_throughput",
        "command": equivalent_command("benchmarks.learn_throughput", args),
        "args": asdict(args),
        "task_id": task_id,
        "environment": environment_info(),
        "steps_per_second": timings,
        "median_steps_per_second": medians,
        "ratio_same_init": medians["MetaDQN"] / medians["DQN (same init)"],
        "ratio": medians["MetaDQN"] / medians["DQN"],
        "metadqn_construction_seconds_median": statistics.median(construct),
    }
    write_atomic(
        Path(args.output_dir) / f"learn_throughput_{args.env_id}.json", json.dumps(report, indent=1)
    )
    print(
        f"MetaDQN / DQN (same init): {report['ratio_same_init']:.3f}; MetaDQN / DQN: "
        f"{report['ratio']:.3f}; construction {report['metadqn_construction_seconds_median']:.2f} s"
    )
    return report


def parse_args(argv: list[str] | None = None) -> Args:
    parser = build_parser(Args, "benchmarks.learn_throughput", __doc__ or "")
    return common_parse_args(parser, Args, argv)


if __name__ == "__main__":
    main(parse_args())
