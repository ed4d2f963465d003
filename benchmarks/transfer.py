"""Transfer benchmark: MetaDQN vs. DQN from scratch on a family's held-out test tasks.

For every (method, task, seed): the greedy normalized return before any update (jumpstart),
every ``eval_freq`` steps, the steps until it reaches the threshold and stays, and the final
value; plus learn() env steps per second (evaluation time excluded). Both methods share every
DQN hyperparameter and the evaluation schedule; the one difference is exploration: DQN from
scratch uses SB3's schedule (epsilon 1 -> 0.05), MetaDQN its warm-start default (0.05
throughout), because a warm-started agent at epsilon 1 throws its head start away.

Aggregates use rliable (IQM with stratified-bootstrap 95% CIs) when it is installed.

    python -m benchmarks.transfer --env-id MetaNav-v0 --tasks 10 --seeds 5
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import build_parser, environment_info, equivalent_command
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

RESULTS_DIR = Path(__file__).parent / "results"

#: Shared DQN hyperparameters per family (both methods).
DQN_SETTINGS: dict[str, dict[str, Any]] = {
    "MetaNav-v0": {
        "learning_rate": 5e-4,
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "batch_size": 64,
        "train_freq": 4,
        "target_update_interval": 500,
    },
    "MetaCartPole-v0": {
        "learning_rate": 2.3e-3,
        "buffer_size": 100_000,
        "learning_starts": 1_000,
        "batch_size": 64,
        "train_freq": 256,
        "gradient_steps": 128,
        "target_update_interval": 10,
    },
}
#: Exploration of DQN from scratch (SB3's defaults, or the zoo's for CartPole).
SCRATCH_EXPLORATION: dict[str, dict[str, Any]] = {
    "MetaNav-v0": {
        "exploration_fraction": 0.1,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.05,
    },
    "MetaCartPole-v0": {
        "exploration_fraction": 0.16,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.04,
    },
}


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field."""

    env_id: str = "MetaNav-v0"
    """family to evaluate on (its test split)"""
    tasks: int = 10
    """first N test-split tasks"""
    seeds: int = 5
    """seeds per (method, task)"""
    timesteps: int = 30_000
    """env steps of each run"""
    eval_freq: int = 1_000
    """steps between greedy evaluations"""
    eval_episodes: int = 5
    """greedy episodes per evaluation"""
    threshold: float = 0.9
    """normalized return to reach and keep"""
    threshold_return: float = -1.0
    """if >= 0: raw return to reach and keep instead (e.g. 475 for MetaCartPole)"""
    workers: int = 2
    """parallel runs (one torch thread each)"""
    output_dir: str = str(RESULTS_DIR)
    """where the JSON goes"""


def _run(job: tuple[str, str, int, int, Args]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    import gym_metatasks
    from sb3_metadqn.evaluation import run_transfer

    method, env_id, task_id, seed, args = job
    kwargs = dict(DQN_SETTINGS.get(env_id, {}))
    if method == "scratch":
        kwargs.update(SCRATCH_EXPLORATION.get(env_id, {}))
    family = gym_metatasks.family(env_id)
    threshold = args.threshold
    if args.threshold_return >= 0:
        threshold = float(family.normalized_return(task_id, args.threshold_return))
    result = run_transfer(
        method,
        env_id,
        task_id,
        seed,
        total_timesteps=args.timesteps,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        threshold=threshold,
        dqn_kwargs=kwargs,
    )
    return {**result.to_dict(), "threshold": threshold}


def _iqm_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """IQM over all runs with a 95% stratified-bootstrap CI (tasks x seeds matrix)."""
    try:
        from rliable import library, metrics

        scores = {"m": values}
        point, interval = library.get_interval_estimates(
            scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=2000
        )
        return float(point["m"][0]), float(interval["m"][0][0]), float(interval["m"][1][0])
    except ImportError:
        flat = np.sort(values.ravel())
        cut = len(flat) // 4
        mean = float(flat[cut : len(flat) - cut].mean())
        return mean, float("nan"), float("nan")


def summarize(results: list[dict[str, Any]], args: Args) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    tasks = sorted({r["task_id"] for r in results})
    for method in sorted({r["method"] for r in results}):
        rows = [r for r in results if r["method"] == method]

        def matrix(key: str, rows: list[dict[str, Any]] = rows) -> np.ndarray:
            # runs x tasks, as rliable expects
            return np.array(
                [[r[key] for r in rows if r["task_id"] == t] for t in tasks], dtype=float
            ).T

        # censored at the budget when never reached
        steps = [
            args.timesteps if r["steps_to_threshold"] is None else r["steps_to_threshold"]
            for r in rows
        ]
        reached = sum(r["steps_to_threshold"] is not None for r in rows)
        jump = _iqm_ci(matrix("jumpstart"))
        final = _iqm_ci(matrix("final"))
        summary[method] = {
            "runs": len(rows),
            "jumpstart_mean": float(np.mean([r["jumpstart"] for r in rows])),
            "jumpstart_iqm": jump[0],
            "jumpstart_iqm_ci95": [jump[1], jump[2]],
            "final_iqm": final[0],
            "final_iqm_ci95": [final[1], final[2]],
            "reached_threshold": reached,
            "steps_to_threshold_median": float(np.median(steps)),
            "steps_to_threshold_mean": float(np.mean(steps)),
            "env_steps_per_second_median": float(
                np.median([r["env_steps_per_second"] for r in rows])
            ),
        }
    if "metadqn" in summary and "scratch" in summary:
        a, b = summary["metadqn"], summary["scratch"]
        summary["steps_ratio_median"] = a["steps_to_threshold_median"] / max(
            b["steps_to_threshold_median"], 1
        )
        summary["throughput_ratio"] = (
            a["env_steps_per_second_median"] / b["env_steps_per_second_median"]
        )
    return summary


def main(args: Args) -> dict[str, Any]:
    import gym_metatasks

    family = gym_metatasks.family(args.env_id)
    tasks = [int(t) for t in family.test_task_ids[: args.tasks]]
    jobs = [
        (m, args.env_id, t, s, args)
        for t in tasks
        for s in range(args.seeds)
        for m in ("metadqn", "scratch")
    ]
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.workers) as pool:
        for result in pool.map(_run, jobs):
            results.append(result)
            reached = result["steps_to_threshold"]
            print(
                f"{result['method']:<8} task {result['task_id']:>4} seed {result['seed']} "
                f"jumpstart {result['jumpstart']:6.3f} steps>=thr {reached!s:>6} final {result['final']:6.3f} "
                f"{result['env_steps_per_second']:7.0f} steps/s",
                flush=True,
            )
    summary = summarize(results, args)
    report = {
        "benchmark": "transfer",
        "command": equivalent_command("benchmarks.transfer", args),
        "args": asdict(args),
        "started_at": started,
        "wall_seconds": time.perf_counter() - t0,
        "environment": environment_info(),
        "dqn_settings": DQN_SETTINGS.get(args.env_id, {}),
        "scratch_exploration": SCRATCH_EXPLORATION.get(args.env_id, {}),
        "summary": summary,
        "results": results,
    }
    out = Path(args.output_dir) / f"transfer_{args.env_id}.json"
    write_atomic(out, json.dumps(report, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"wrote {out}")
    return report


def parse_args(argv: list[str] | None = None) -> Args:
    parser = build_parser(Args, "benchmarks.transfer", __doc__ or "")
    return common_parse_args(parser, Args, argv)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(parse_args())
