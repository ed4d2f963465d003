"""The transfer metrics of the evaluation protocol (DESIGN.md, "Evaluation protocol").

- jumpstart: greedy normalized return before any update;
- steps to threshold: first evaluation at which the greedy normalized return is
  >= the threshold and stays there at every later evaluation;
- final: greedy normalized return at the end; area under the curve.

Greedy returns are exact expected returns for families with an exact model, and means over
sampled episodes otherwise (at least ``jumpstart_episodes`` at step 0).
"""

from __future__ import annotations

import time
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from sb3_metadqn.evaluation.rollouts import JUMPSTART_EPISODES, greedy_value, has_exact_model


def steps_to_threshold(steps: list[int], values: list[float], threshold: float) -> int | None:
    """First evaluation step from which every value is >= ``threshold``; None if never."""
    for k in range(len(values)):
        if all(v >= threshold for v in values[k:]):
            return steps[k]
    return None


class GreedyCurve(BaseCallback):
    """Evaluates the greedy normalized return every ``eval_freq`` steps (and at step 0) on
    ``env``, an env of the task as the model observes it: exactly where the family has a
    model, else over ``episodes`` sampled episodes (``jumpstart_episodes`` at step 0, if more).
    """

    def __init__(
        self,
        family: Any,
        task_id: int,
        env: Any,
        eval_freq: int,
        episodes: int,
        seed: int,
        jumpstart_episodes: int = JUMPSTART_EPISODES,
    ):
        super().__init__()
        self.family, self.task_id, self.env = family, task_id, env
        self.eval_freq, self.episodes, self.seed = eval_freq, episodes, seed
        self.jumpstart_episodes = max(episodes, jumpstart_episodes)
        self.steps: list[int] = []
        self.values: list[float] = []
        self.eval_seconds = 0.0

    @property
    def evaluation(self) -> str:
        """How each point is measured, for the record."""
        if has_exact_model(self.family):
            return "exact"
        return f"{self.episodes} sampled episodes ({self.jumpstart_episodes} at step 0)"

    def evaluate(self, step: int) -> None:
        start = time.perf_counter()
        episodes = self.jumpstart_episodes if step == 0 else self.episodes
        raw = greedy_value(self.model, self.family, self.task_id, self.env, episodes, self.seed)
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
