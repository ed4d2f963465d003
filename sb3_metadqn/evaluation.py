"""The transfer metrics of the evaluation protocol, measured on one (method, task, seed).

- jumpstart: greedy normalized return before any update;
- steps to threshold: first evaluation at which the greedy normalized return is
  >= the threshold and stays there at every later evaluation;
- final: greedy normalized return at the end; area under the curve.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

import gym_metatasks
from sb3_metadqn.meta_learner import MetaLearner
from sb3_metadqn.metadqn import MetaDQN

METHODS = ("metadqn", "scratch")


def greedy_return(model: BaseAlgorithm, env: Any, episodes: int, seed: int) -> float:
    """Mean undiscounted return of the deterministic policy over ``episodes`` episodes."""
    total = 0.0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def steps_to_threshold(steps: list[int], values: list[float], threshold: float) -> int | None:
    """First evaluation step from which every value is >= ``threshold``; None if never."""
    for k in range(len(values)):
        if all(v >= threshold for v in values[k:]):
            return steps[k]
    return None


class GreedyCurve(BaseCallback):
    """Evaluates the greedy normalized return every ``eval_freq`` steps (and at step 0)."""

    def __init__(self, family: Any, task_id: int, eval_freq: int, episodes: int, seed: int):
        super().__init__()
        self.family, self.task_id = family, task_id
        self.eval_freq, self.episodes, self.seed = eval_freq, episodes, seed
        self.env = family.make(task_id)
        self.steps: list[int] = []
        self.values: list[float] = []
        self.eval_seconds = 0.0

    def evaluate(self, step: int) -> None:
        start = time.perf_counter()
        raw = greedy_return(self.model, self.env, self.episodes, self.seed)
        self.steps.append(step)
        self.values.append(float(self.family.normalized_return(self.task_id, raw)))
        self.eval_seconds += time.perf_counter() - start

    def _on_training_start(self) -> None:
        if not self.steps:
            self.evaluate(0)

    def _on_step(self) -> bool:
        if self.num_timesteps % self.eval_freq == 0:
            self.evaluate(self.num_timesteps)
        return True


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
    meta_learner: MetaLearner | str | None = None,
) -> TransferResult:
    """Train ``method`` (``"metadqn"`` or ``"scratch"``) on one task and measure the curve.

    Both methods get the same ``dqn_kwargs`` and evaluation schedule; MetaDQN's warm-start
    exploration defaults apply only where ``dqn_kwargs`` leaves them unset.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    family = gym_metatasks.family(env_id)
    if family.split_of(task_id) != "test":
        raise ValueError(f"task_id {task_id} is not in the test split of {env_id}")
    kwargs = dict(dqn_kwargs or {})
    env = family.make(task_id)
    model: DQN
    if method == "metadqn":
        model = MetaDQN("MlpPolicy", env, seed=seed, meta_learner=meta_learner, **kwargs)
    else:
        model = DQN("MlpPolicy", env, seed=seed, **kwargs)
    curve = GreedyCurve(family, task_id, eval_freq, eval_episodes, seed=10_000 + seed)
    start = time.perf_counter()
    model.learn(total_timesteps, callback=curve)
    seconds = time.perf_counter() - start - curve.eval_seconds
    values = curve.values
    return TransferResult(
        method=method,
        env_id=env_id,
        task_id=task_id,
        seed=seed,
        steps=curve.steps,
        values=values,
        jumpstart=values[0],
        steps_to_threshold=steps_to_threshold(curve.steps, values, threshold),
        final=values[-1],
        auc=float(np.mean(values)),
        learn_seconds=seconds,
        env_steps_per_second=total_timesteps / seconds,
        meta_init=getattr(model, "meta_init", None),
        hyperparameters=kwargs,
    )
