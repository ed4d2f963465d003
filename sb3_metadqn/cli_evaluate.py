"""``metadqn evaluate`` and ``metadqn demo``: methods on held-out test tasks."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import gym_metatasks
from sb3_metadqn import pretrained
from sb3_metadqn.evaluation.methods import METHODS, get_method
from sb3_metadqn.evaluation.rollouts import JUMPSTART_EPISODES, greedy_value
from sb3_metadqn.evaluation.transfer import run_transfer
from sb3_metadqn.progress import Progress, StepsCallback


def check_embedded(env_id: str, command: str) -> None:
    """``SystemExit`` saying how to give a meta-learner when ``env_id`` has none embedded."""
    if env_id in pretrained.available():
        return
    gym_metatasks.family(env_id)  # an unknown id: the registry's error names it
    raise SystemExit(
        f"metadqn {command}: error: no embedded meta-learner for {env_id}; embedded: "
        f"{', '.join(pretrained.available())}. Train one with `metadqn meta-train {env_id} "
        f"--output ml.safetensors` and pass --meta-learner ml.safetensors"
    )


def summary_line(method: str, rows: Sequence[dict[str, Any]], threshold: float) -> str:
    """A method's evaluation in one line: mean jumpstart, how many runs reached the
    threshold and the median steps they took, and the meta-training cost."""
    jump = float(np.mean([r["jumpstart"] for r in rows]))
    hits = [r["steps_to_threshold"] for r in rows if r["steps_to_threshold"] is not None]
    if hits:
        reached = (
            f"reached {threshold} in {len(hits)}/{len(rows)} runs, median "
            f"{float(np.median(hits)):.0f} steps"
        )
    else:
        reached = f"{threshold} not reached in {len(rows)} runs"
    cost = rows[0]["meta_training_core_seconds"]
    return f"{method}: mean jumpstart {jump:.3f}; {reached}; meta-training {cost:.0f} core-s"


def _artifacts(args: argparse.Namespace) -> dict[str, Any]:
    """The artifact of each method, from ``--meta-learner`` and ``--artifact METHOD=PATH``,
    loaded (and so validated) before any run."""
    paths: dict[str, str] = {}
    if args.meta_learner is not None:
        paths.update(
            {n: args.meta_learner for n, m in METHODS.items() if m.artifact == "meta-learner"}
        )
    for item in args.artifact:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise SystemExit(f"--artifact must be METHOD=PATH, got {item!r}")
        if name not in METHODS:
            raise SystemExit(f"--artifact names method {name!r}; methods: {list(METHODS)}")
        paths[name] = path
    if any(get_method(n).artifact == "meta-learner" and n not in paths for n in args.methods):
        check_embedded(args.env_id, "evaluate")
    loaded = {}
    for name in args.methods:
        try:
            loaded[name] = get_method(name).load_artifact(args.env_id, paths.get(name))
        except (ValueError, OSError) as error:
            raise SystemExit(f"{name}: {error}") from error
    return loaded


def evaluate(args: argparse.Namespace, output: Path | None, progress: bool) -> int:
    """Every method on every (task, seed): a row per run, then a summary line per method."""
    family = gym_metatasks.family(args.env_id)
    if args.tasks > len(family.test_task_ids):
        raise SystemExit(
            f"--tasks must be at most {len(family.test_task_ids)} (the test split of "
            f"{args.env_id}), got {args.tasks}"
        )
    tasks = args.task_ids or list(family.test_task_ids[: args.tasks])
    artifacts = _artifacts(args)
    results: list[dict[str, Any]] = []
    width = max(len(m) for m in args.methods)
    print(
        f"{'method':<{width}} {'task':>5} {'seed':>4} {'jumpstart':>9} {'steps>=thr':>10} "
        f"{'final':>6}"
    )
    for task_id in tasks:
        for seed in range(args.seeds):
            for method in args.methods:
                result = run_transfer(
                    method,
                    args.env_id,
                    task_id,
                    seed,
                    total_timesteps=args.timesteps,
                    eval_freq=args.eval_freq,
                    eval_episodes=args.eval_episodes,
                    threshold=args.threshold,
                    artifact=artifacts[method],
                    progress_bar=progress,
                )
                results.append(result.to_dict())
                reached = (
                    "never" if result.steps_to_threshold is None else result.steps_to_threshold
                )
                print(
                    f"{method:<{width}} {task_id:>5} {seed:>4} {result.jumpstart:>9.3f} "
                    f"{reached!s:>10} {result.final:>6.3f}",
                    flush=True,
                )
    for method in args.methods:
        print(summary_line(method, [r for r in results if r["method"] == method], args.threshold))
    if output is not None:
        from gym_metatasks.atomic_io import write_atomic

        write_atomic(output, json.dumps(results, indent=1))
    return 0


def _score(family: Any, task_id: int, model: Any) -> float:
    """Greedy normalized return: exact on grid families, else over 20 sampled episodes."""
    value = greedy_value(model, family, task_id, family.make(task_id), JUMPSTART_EPISODES, 0)
    return float(family.normalized_return(task_id, value))


def demo(args: argparse.Namespace, progress: bool) -> int:
    """MetaDQN against DQN's random init on the first test tasks, before and after learning."""
    from stable_baselines3 import DQN

    from sb3_metadqn.agents.metadqn import MetaDQN

    family = gym_metatasks.family(args.env_id)
    if args.meta_learner is None:
        check_embedded(args.env_id, "demo")
    print(f"MetaDQN on {args.env_id}: held-out test tasks, greedy normalized return (1 = optimal)")
    print(
        f"{'task':>5} {'source':>6} {'DQN init':>8} {'MetaDQN init':>12} {'after ' + str(args.timesteps):>11}"
    )
    bars = Progress(progress)
    task_ids = family.test_task_ids[: args.tasks]
    for k, task_id in enumerate(task_ids):
        label = f"task {task_id} ({k + 1}/{len(task_ids)})"
        env = family.make(task_id)
        model = MetaDQN("MlpPolicy", env, seed=0, meta_learner=args.meta_learner)
        scratch = DQN("MlpPolicy", family.make(task_id), seed=0)
        with bars.phase(f"{label}: greedy return of the starts", 2, leave=False) as bar:
            baseline = _score(family, task_id, scratch)
            bar.update(1)
            before = _score(family, task_id, model)
            bar.update(1)
        with bars.phase(
            f"{label}: MetaDQN learning", args.timesteps, unit="step", leave=False
        ) as bar:
            model.learn(args.timesteps, callback=StepsCallback(bar))
        with bars.phase(f"{label}: greedy return after learning", 1, leave=False) as bar:
            after = _score(family, task_id, model)
            bar.update(1)
        init = model.meta_init or {}
        print(
            f"{task_id:>5} {init.get('source_task_id')!s:>6} {baseline:>8.3f} {before:>12.3f} {after:>11.3f}",
            flush=True,
        )
    return 0
