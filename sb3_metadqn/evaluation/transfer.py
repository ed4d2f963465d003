"""The transfer protocol on one (method, task, seed): build the method's model for a
held-out task, learn, and measure the greedy learning curve (:mod:`.metrics`).

A start chosen by a probe of the task (``meta_probe_episodes``) has used env steps before
learning: the curve's steps, and so the steps to threshold, count them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import CallbackList

import gym_metatasks
from sb3_metadqn._checks import check_args
from sb3_metadqn.evaluation.methods import get_method
from sb3_metadqn.evaluation.metrics import GreedyCurve, steps_to_threshold
from sb3_metadqn.progress import Progress, StepsCallback


@dataclass
class TransferResult:
    method: str
    env_id: str
    task_id: int
    seed: int
    steps: list[int]
    values: list[float]
    jumpstart: float
    steps_to_threshold: int | None
    final: float
    auc: float
    learn_seconds: float
    env_steps_per_second: float
    meta_init: dict[str, Any] | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    meta_training_core_seconds: float = 0.0
    evaluation: str = ""
    probe_env_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_transfer(
    method: str,
    env_id: str,
    task_id: int,
    seed: int,
    *,
    total_timesteps: int,
    eval_freq: int = 1000,
    eval_episodes: int = 1,
    threshold: float = 0.9,
    dqn_kwargs: dict[str, Any] | None = None,
    tabular_kwargs: dict[str, Any] | None = None,
    artifact: Any = None,
    progress_bar: bool = False,
) -> TransferResult:
    """Train ``method`` (a name of :data:`sb3_metadqn.evaluation.methods.METHODS`) on one held-out task
    (test split, or validation split to choose settings) and measure its greedy learning
    curve.

    :param dqn_kwargs: hyperparameters of the DQN-based methods (each keeps its own
        exploration defaults where these leave them unset)
    :param tabular_kwargs: hyperparameters of the tabular methods (the bandits take none)
    :param artifact: the method's meta-trained artifact (object or path; None: the
        method's default, e.g. the embedded meta-learner)
    :param progress_bar: show a bar of the run's env steps on stderr
        (``evaluation METHOD task ID seed S``)
    """
    check_args(
        {
            "seed": seed,
            "total_timesteps": total_timesteps,
            "eval_freq": eval_freq,
            "eval_episodes": eval_episodes,
            "threshold": threshold,
        }
    )
    runner = get_method(method)
    family = gym_metatasks.family(env_id)
    if family.split_of(task_id) not in ("validation", "test"):
        raise ValueError(
            f"task_id must be a held-out task (validation or test split) of {env_id}, got "
            f"{task_id} ({family.split_of(task_id) or 'a duplicate'} split)"
        )
    loaded = runner.load_artifact(env_id, artifact)
    kwargs = dict({"dqn": dqn_kwargs, "tabular": tabular_kwargs}.get(runner.algorithm) or {})
    model = runner.build(runner.make_env(family, task_id), seed, kwargs, loaded)
    curve = GreedyCurve(
        family, task_id, runner.make_env(family, task_id), eval_freq, eval_episodes, 10_000 + seed
    )
    name = f"evaluation {method} task {task_id} seed {seed}"
    with Progress(progress_bar).phase(name, total_timesteps, unit="step", leave=False) as bar:
        start = time.perf_counter()
        model.learn(total_timesteps, callback=CallbackList([curve, StepsCallback(bar)]))
        seconds = time.perf_counter() - start - curve.eval_seconds
    values = curve.values
    meta_init = getattr(model, "meta_init", None)
    # a probe's episodes are env steps of the task too: the curve starts after them
    probe = int((meta_init or {}).get("probe_env_steps", 0))
    steps = [step + probe for step in curve.steps]
    return TransferResult(
        method=method,
        env_id=env_id,
        task_id=task_id,
        seed=seed,
        steps=steps,
        values=values,
        jumpstart=values[0],
        steps_to_threshold=steps_to_threshold(steps, values, threshold),
        final=values[-1],
        auc=float(np.mean(values)),
        learn_seconds=seconds,
        env_steps_per_second=total_timesteps / seconds,
        meta_init=meta_init,
        hyperparameters=kwargs,
        meta_training_core_seconds=runner.cost(loaded),
        evaluation=curve.evaluation,
        probe_env_steps=probe,
    )
