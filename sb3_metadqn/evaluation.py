"""The transfer metrics of the evaluation protocol, measured on one (method, task, seed).

Greedy returns are exact expected returns (``family.policy_return``, dynamic programming on
the task's model) for families with an exact model, and means over sampled episodes
otherwise (at least ``jumpstart_episodes`` at step 0).

- jumpstart: greedy normalized return before any update;
- steps to threshold: first evaluation at which the greedy normalized return is
  >= the threshold and stays there at every later evaluation;
- final: greedy normalized return at the end; area under the curve.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

import gym_metatasks

#: Sampled episodes of a jumpstart, at least, where no exact model exists.
JUMPSTART_EPISODES = 20


def greedy_return(model: Any, env: Any, episodes: int, seed: int) -> float:
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


def greedy_return_batched(model: Any, envs: list[gym.Env[Any, Any]], seed: int) -> float:
    """Mean undiscounted return of the deterministic policy over one episode in each env
    (seeds ``seed, seed + 1, ...``: the episodes of :func:`greedy_return`), stepped together
    so that the model acts on one batch of observations per step."""
    observations = [env.reset(seed=seed + k)[0] for k, env in enumerate(envs)]
    totals = np.zeros(len(envs))
    live = list(range(len(envs)))
    while live:
        actions, _ = model.predict(_stack([observations[k] for k in live]), deterministic=True)
        still = []
        for k, action in zip(live, np.asarray(actions).reshape(len(live)), strict=True):
            obs, reward, terminated, truncated, _ = envs[k].step(int(action))
            observations[k], totals[k] = obs, totals[k] + float(reward)
            if not (terminated or truncated):
                still.append(k)
        live = still
    return float(totals.mean())


def _stack(observations: list[Any]) -> Any:
    """A batch of observations (dict observations stacked key by key)."""
    if isinstance(observations[0], dict):
        return {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    return np.stack([np.asarray(o) for o in observations])


def has_exact_model(family: Any) -> bool:
    """Whether ``family.policy_return`` evaluates a policy exactly."""
    return getattr(family, "oracle", None) == "exact" and hasattr(family, "model")


def state_observations(env: gym.Env[Any, Any]) -> list[Any]:
    """The observation of every state of a grid task's ``env`` as the agent sees it: the
    family's observation of each state passed through ``env``'s observation wrappers."""
    wrappers = []
    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        wrappers.append(inner)
        inner = inner.env
    observations = inner.family.state_observations()
    for wrapper in reversed(wrappers):
        if isinstance(wrapper, gym.ObservationWrapper):
            observations = [wrapper.observation(o) for o in observations]
    return observations


def greedy_actions(model: Any, env: gym.Env[Any, Any]) -> np.ndarray:
    """``model``'s deterministic action in every state of a grid task, ``(num_states,)``;
    ``env`` is the task's env as the model observes it."""
    observations = state_observations(env)
    actions, _ = model.predict(_stack(observations), deterministic=True)
    return np.asarray(actions, dtype=np.int64).reshape(len(observations))


def greedy_value(
    model: Any, family: Any, task_id: int, env: gym.Env[Any, Any], episodes: int, seed: int
) -> float:
    """The greedy policy's expected return: exact where the family has a model, else the
    mean over ``episodes`` sampled episodes (seeds ``seed, seed + 1, ...``)."""
    if has_exact_model(family):
        return float(family.policy_return(task_id, greedy_actions(model, env)))
    return greedy_return(model, env, episodes, seed)


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
) -> TransferResult:
    """Train ``method`` (a name of :data:`sb3_metadqn.methods.METHODS`) on one held-out task
    (test split, or validation split to choose settings) and measure its greedy learning
    curve.

    :param dqn_kwargs: hyperparameters of the DQN-based methods (each keeps its own
        exploration defaults where these leave them unset)
    :param tabular_kwargs: hyperparameters of the tabular methods
    :param artifact: the method's meta-trained artifact (object or path; None: the
        method's default, e.g. the embedded meta-learner)
    """
    from sb3_metadqn.methods import get_method

    runner = get_method(method)
    family = gym_metatasks.family(env_id)
    if family.split_of(task_id) not in ("validation", "test"):
        raise ValueError(
            f"task_id must be a held-out task (validation or test split) of {env_id}, got "
            f"{task_id} ({family.split_of(task_id) or 'a duplicate'} split)"
        )
    loaded = runner.load_artifact(env_id, artifact)
    kwargs = dict((dqn_kwargs if runner.algorithm == "dqn" else tabular_kwargs) or {})
    model = runner.build(runner.make_env(family, task_id), seed, kwargs, loaded)
    curve = GreedyCurve(
        family, task_id, runner.make_env(family, task_id), eval_freq, eval_episodes, 10_000 + seed
    )
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
        meta_training_core_seconds=runner.cost(loaded),
        evaluation=curve.evaluation,
    )
