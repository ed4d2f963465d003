"""Choosing MetaDQN's return probe on validation tasks: how many nearest sources
(``meta_candidates``) and how many greedy episodes each (``meta_probe_episodes``).

For every task of the split, each of the ``max(candidates)`` nearest kept sources, mapped by
the family's embedded meta-learner (or as it is, with ``--unmapped``), plays the probe
episodes MetaDQN would play (the library's own probe: the env seeded with the model seed 0,
the same episodes for every candidate) and is evaluated like the attribution benchmark's
jumpstart (exactly where the family has a model, else ``jumpstart_episodes`` sampled
episodes from seed 10,000). Since the k nearest
of a larger probe include those of a smaller one and every candidate plays the same episodes,
the start MetaDQN(meta_candidates=k, meta_probe_episodes=e, seed=0) picks is read off these
numbers for every (k, e) of the grid, with the env steps its probe costs.

The setting chosen is the cheapest (fewest mean probe env steps) whose mean jumpstart is
within ``tolerance`` of the best setting's.

    python -m benchmarks.probe_selection --env-id MetaMountainCar-v0

Results go to ``<output-dir>/probe_selection_<env_id>[_unmapped]_<split>.{json,csv,png}``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import build_parser, environment_info, equivalent_command
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

MODULE = "benchmarks.probe_selection"
#: The evaluation episodes' first seed (the attribution benchmark's jumpstart).
EVAL_SEED = 10_000


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field (``--env-id``, ``--candidates``, ...)."""

    env_id: str = "MetaMountainCar-v0"
    """a family with an embedded meta-learner"""
    split: str = "validation"
    """the tasks: ``validation`` (where settings are chosen) or ``test``"""
    candidates: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 10)
    """values of ``meta_candidates`` (1: the nearest source, no probe)"""
    episodes: tuple[int, ...] = (1, 2, 3)
    """values of ``meta_probe_episodes``"""
    unmapped: bool = False
    """probe the sources as they are (NearestSource) instead of mapped by f_phi"""
    meta_learner: str = ""
    """path of a meta-learner artifact to use instead of the family's embedded one"""
    tasks: int = 0
    """the first N tasks of the split (0: every one)"""
    jumpstart_episodes: int = 20
    """sampled episodes that evaluate a start (families without an exact model)"""
    tolerance: float = 0.01
    """the chosen setting is the cheapest within this of the best mean jumpstart"""
    output_dir: str = "benchmarks/results/selection/probe"
    """directory of the JSON, CSV and PNG"""
    quiet: bool = False
    """print nothing"""


def candidate_numbers(args: Args, learner: Any, task: int) -> list[dict[str, Any]]:
    """Per candidate (nearest first): its source, jumpstart, and probe returns and env steps
    for every probe length of the grid."""
    import torch

    torch.set_num_threads(1)
    import gym_metatasks
    from sb3_metadqn import MetaDQN, NearestSource
    from sb3_metadqn.agents.probe import greedy_episode_returns
    from sb3_metadqn.evaluation.rollouts import greedy_return_batched, greedy_value, has_exact_model
    from sb3_metadqn.nets import qnet

    family = gym_metatasks.family(args.env_id)
    initializer = NearestSource.of(learner) if args.unmapped else learner
    model = MetaDQN(
        "MlpPolicy", family.make(task), meta_learner=learner, buffer_size=1_000, seed=0,
        meta_candidates=1, meta_probe_episodes=0,
    )  # fmt: skip
    assert model.env is not None

    def act(obs: Any) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    rows = []
    for layers, record in initializer.candidate_starts(
        family.descriptor(task), max(args.candidates)
    ):
        qnet.set_layers(model.q_net, layers)
        if has_exact_model(family):
            env = family.make(task)
            raw = greedy_value(model, family, task, env, 0, EVAL_SEED)
            env.close()
        else:
            envs = [family.make(task) for _ in range(args.jumpstart_episodes)]
            raw = greedy_return_batched(model, envs, seed=EVAL_SEED)
        probes = {}
        for e in args.episodes:
            returns, steps = greedy_episode_returns(model.env, e, act, seed=0)
            probes[str(e)] = {"mean_return": float(np.mean(returns)), "env_steps": steps}
        rows.append(
            {
                "source_task_id": record["source_task_id"],
                "descriptor_distance": record["descriptor_distance"],
                "jumpstart": float(family.normalized_return(task, raw)),
                "probe": probes,
            }
        )
    return rows


def setting_outcome(candidates: list[dict[str, Any]], k: int, e: int) -> tuple[float, int]:
    """The jumpstart of the start MetaDQN(meta_candidates=k, meta_probe_episodes=e) picks
    (the first best, as ``np.argmax``), and its probe's env steps (0 for k = 1)."""
    if k == 1:
        return candidates[0]["jumpstart"], 0
    chosen = candidates[:k]
    returns = [c["probe"][str(e)]["mean_return"] for c in chosen]
    best = int(np.argmax(returns))
    return chosen[best]["jumpstart"], sum(c["probe"][str(e)]["env_steps"] for c in chosen)


def summarize(per_task: dict[str, list[dict[str, Any]]], args: Args) -> dict[str, Any]:
    settings = []
    for k in args.candidates:
        for e in args.episodes if k > 1 else args.episodes[:1]:
            outcomes = [setting_outcome(c, k, e) for c in per_task.values()]
            jump = np.array([o[0] for o in outcomes])
            settings.append(
                {
                    "meta_candidates": k,
                    "meta_probe_episodes": e if k > 1 else 0,
                    "jumpstart_mean": float(jump.mean()),
                    "fraction_at_least_0.9": float((jump >= 0.9).mean()),
                    "probe_env_steps_mean": float(np.mean([o[1] for o in outcomes])),
                }
            )
    best = max(s["jumpstart_mean"] for s in settings)
    eligible = [s for s in settings if s["jumpstart_mean"] >= best - args.tolerance - 1e-12]
    chosen = min(eligible, key=lambda s: (s["probe_env_steps_mean"], -s["jumpstart_mean"]))
    oracle = float(np.mean([max(c["jumpstart"] for c in cands) for cands in per_task.values()]))
    return {"settings": settings, "chosen": chosen, "best_of_all_candidates": oracle}


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| meta_candidates | meta_probe_episodes | jumpstart mean | tasks >= 0.9 | probe env steps |",
        "|---:|---:|---:|---:|---:|",
    ]
    for s in summary["settings"]:
        mark = " (chosen)" if s is summary["chosen"] else ""
        lines.append(
            f"| {s['meta_candidates']} | {s['meta_probe_episodes']}{mark} | "
            f"{s['jumpstart_mean']:.3f} | {s['fraction_at_least_0.9']:.2f} | "
            f"{s['probe_env_steps_mean']:,.0f} |"
        )
    return "\n".join(lines)


def plot(summary: dict[str, Any], args: Args, tasks: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for e in args.episodes:
        rows = [s for s in summary["settings"] if s["meta_probe_episodes"] in (0, e)]
        ax.plot(
            [s["probe_env_steps_mean"] for s in rows],
            [s["jumpstart_mean"] for s in rows],
            "o-",
            label=f"{e} episode(s) per candidate",
        )
    chosen = summary["chosen"]
    ax.plot(chosen["probe_env_steps_mean"], chosen["jumpstart_mean"], "k*", markersize=14)
    ax.set_xlabel("probe env steps per task (mean)")
    ax.set_ylabel("mean jumpstart (normalized)")
    kind = "sources as they are" if args.unmapped else "mapped sources"
    ax.set_title(f"{args.env_id}, {tasks} {args.split} tasks: {kind}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def main(args: Args) -> dict[str, Any]:
    import gym_metatasks
    from sb3_metadqn import pretrained

    family = gym_metatasks.family(args.env_id)
    if args.split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {args.split!r}")
    for name in ("candidates", "episodes"):
        values = getattr(args, name)
        if not values or any(not isinstance(v, int) or v < 1 for v in values):
            raise ValueError(f"{name} must be integers >= 1, got {values!r}")
    ids = [int(t) for t in family.split_task_ids(args.split)]
    ids = ids[: args.tasks or len(ids)]
    start = time.process_time()
    if args.meta_learner:
        from sb3_metadqn import MetaLearner

        learner = MetaLearner.load(args.meta_learner)
        if learner.env_id != args.env_id:
            raise ValueError(
                f"meta_learner {args.meta_learner!r} is for {learner.env_id}, not {args.env_id}"
            )
    else:
        learner = pretrained.load(args.env_id)
    per_task = {}
    for task in ids:
        per_task[str(task)] = candidate_numbers(args, learner, task)
        if not args.quiet:
            jumps = [round(c["jumpstart"], 2) for c in per_task[str(task)]]
            print(f"task {task}: candidates' jumpstarts {jumps}", flush=True)
    summary = summarize(per_task, args)
    result = {
        "args": dataclasses.asdict(args),
        "command": equivalent_command(MODULE, args),
        "environment": environment_info(),
        "cpu_seconds": time.process_time() - start,
        "tasks": ids,
        "per_task": per_task,
        **summary,
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"probe_selection_{args.env_id}{'_unmapped' if args.unmapped else ''}_{args.split}"
    write_atomic(out / f"{stem}.json", json.dumps(result, indent=1).encode())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(summary["settings"][0]))
    writer.writeheader()
    writer.writerows(summary["settings"])
    write_atomic(out / f"{stem}.csv", buffer.getvalue().encode())
    plot(summary, args, len(ids), out / f"{stem}.png")
    if not args.quiet:
        print(table(summary))
        print(f"best start among all {max(args.candidates)} candidates: "
              f"{summary['best_of_all_candidates']:.3f}")  # fmt: skip
    return result


def parse_args(argv: Sequence[str] | None = None) -> Args:
    return common_parse_args(build_parser(Args, MODULE, __doc__ or ""), Args, argv)


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
