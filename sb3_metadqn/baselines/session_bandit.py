"""The recommendation baselines' common ground: :class:`SessionBandit`, a bandit over a
family's actions with Stable-Baselines3's algorithm surface, and :func:`pretrain_bandit`, which
fits one on the sessions of train-split users (the population model a new user starts from).

A bandit learns from immediate rewards only: each step it scores every action for the
current context (the observation and the user's task descriptor), acts, and updates the
chosen action's statistics with the reward. ``predict(deterministic=True)`` is greedy on the
estimates (lowest index on ties); ``learn`` explores as the subclass says. Statistics are
numpy arrays saved to one safetensors file with a JSON document (no pickle).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback

import gym_metatasks
from sb3_metadqn._checks import check_int
from sb3_metadqn.agents.task_env import read_task
from sb3_metadqn.core.initializer import check_train_tasks
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.progress import Progress

SelfBandit = TypeVar("SelfBandit", bound="SessionBandit")


class BanditPolicy(BasePolicy):
    """Greedy on the scores its algorithm gives a batch of observations."""

    def __init__(
        self, observation_space: spaces.Space[Any], action_space: spaces.Space[Any], scorer: Any
    ):
        super().__init__(observation_space, action_space)
        self.scorer = scorer

    def _predict(self, observation: Any, deterministic: bool = False) -> torch.Tensor:
        scores = self.scorer(np.asarray(observation.cpu().numpy(), dtype=np.int64).reshape(-1))
        return torch.as_tensor(np.argmax(scores, axis=1))


class SessionBandit(BaseAlgorithm):
    """A bandit over ``Discrete`` actions of a gym_metatasks env with ``Discrete``
    observations. Subclasses implement :meth:`scores`, :meth:`update` and the statistics
    (:meth:`statistics`, :meth:`set_statistics`).

    :param policy: ``"BanditPolicy"``
    :param env: the env of one task (or its registered id)
    :param seed: seed of the exploration generator and the env
    :param initial: a model of the same class whose statistics this one starts from (a
        population model from :func:`pretrain_bandit`), or None
    :param task_descriptor: overrides the env's task descriptor
    :param verbose: 0 silent, 1 training logs
    """

    kind: ClassVar[str]
    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"BanditPolicy": BanditPolicy}
    policy: BanditPolicy

    def __init__(
        self,
        policy: str = "BanditPolicy",
        env: Any = None,
        seed: int | None = None,
        initial: SessionBandit | None = None,
        task_descriptor: Any = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(policy, env, learning_rate=0.0, verbose=verbose, seed=seed, device="cpu")
        if not isinstance(self.action_space, spaces.Discrete) or not isinstance(
            self.observation_space, spaces.Discrete
        ):
            raise ValueError(
                f"{type(self).__name__} needs Discrete observations and actions, got "
                f"{self.observation_space} and {self.action_space}"
            )
        self.n_actions = int(self.action_space.n)
        self.n_observations = int(self.observation_space.n)
        self.descriptor = read_task(self.env, task_descriptor, type(self).__name__)[0]
        self.training: dict[str, Any] = {}
        self._rng = np.random.default_rng(seed)
        self.set_random_seed(seed)
        self._setup_model()
        if initial is not None:
            if type(initial) is not type(self):
                raise TypeError(f"initial must be a {type(self).__name__}, got {initial!r}")
            self.set_statistics(initial.statistics())

    def _setup_model(self) -> None:
        self.policy = BanditPolicy(self.observation_space, self.action_space, self.greedy_scores)

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed the exploration generator, the action space and the env (at its next
        reset); the global generators are left alone."""
        if seed is None:
            return
        seed = check_int("seed", seed, 0, " or None")
        self._rng = np.random.default_rng(seed)
        self.action_space.seed(seed)
        if self.env is not None:
            self.env.seed(seed)

    # ------------------------------------------------------------------ for subclasses
    def scores(self, observations: NDArray[np.int64], explore: bool) -> NDArray[np.float64]:
        """``(batch, n_actions)`` scores; ``explore``: the exploring scores of ``learn``."""
        raise NotImplementedError

    def update(self, observation: int, action: int, reward: float) -> None:
        """Learn from one step."""
        raise NotImplementedError

    def statistics(self) -> dict[str, NDArray[np.float64]]:
        """The learned statistics, by name (copies)."""
        raise NotImplementedError

    def set_statistics(self, statistics: dict[str, NDArray[np.float64]]) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments that define learning, JSON-ready."""
        return {}

    # ------------------------------------------------------------------ acting
    def greedy_scores(self, observations: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.scores(observations, explore=False)

    def set_descriptor(self, descriptor: Any) -> None:
        """Serve another user (the task descriptor the context is built from)."""
        self.descriptor = np.asarray(descriptor, dtype=np.float64)

    def learn(
        self: SelfBandit,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 100,
        tb_log_name: str = "SessionBandit",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfBandit:
        """Act and update for ``total_timesteps`` env steps (summed over sub-envs)."""
        check_int("total_timesteps", total_timesteps, 0)
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        callback.on_rollout_start()
        assert self.env is not None
        while self.num_timesteps < total_timesteps:
            observations = np.asarray(self._last_obs, dtype=np.int64).reshape(-1)
            actions = self.explore_actions(observations)
            new_obs, rewards, dones, infos = self.env.step(actions)
            for obs, action, reward in zip(observations, actions, rewards, strict=True):
                self.update(int(obs), int(action), float(reward))
            self.num_timesteps += self.env.num_envs
            self._last_obs = new_obs  # type: ignore[assignment]
            callback.update_locals(locals())
            if not callback.on_step():
                break
            self._update_info_buffer(infos, dones)
        callback.on_rollout_end()
        callback.on_training_end()
        return self

    def explore_actions(self, observations: NDArray[np.int64]) -> NDArray[np.int64]:
        """The action ``learn`` takes for each observation: best exploring score, ties
        broken uniformly at random."""
        scores = self.scores(observations, explore=True)
        noise = self._rng.random(scores.shape) * 1e-9
        best = scores.max(axis=1, keepdims=True)
        return np.argmax(np.where(scores >= best - 1e-12, 1.0 + noise, 0.0), axis=1)

    # ------------------------------------------------------------------ persistence
    def document(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "hyperparameters": self.hyperparameters(),
            "n_actions": self.n_actions,
            "n_observations": self.n_observations,
            "descriptor_dim": int(self.descriptor.shape[0]),
            "num_timesteps": int(self.num_timesteps),
            "training": self.training,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:  # type: ignore[override]
        """Write the statistics and a JSON document as one safetensors file."""
        tensors = {k: torch.as_tensor(v) for k, v in self.statistics().items()}
        return artifacts.write(path, tensors, self.document())

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        return self.document()

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfBandit],
        path: str | os.PathLike[str],
        env: GymEnv | None = None,
        **kwargs: Any,
    ) -> SelfBandit:
        """Read a model written by :meth:`save` (never unpickles); ``env`` is the task to
        serve (default: task 0 of the family it was fit on)."""
        tensors, document = artifacts.read(path)
        return cls.from_parts(tensors, document, f"artifact {str(path)!r}", env=env, **kwargs)

    @classmethod
    def from_parts(
        cls: type[SelfBandit],
        tensors: dict[str, torch.Tensor],
        document: dict[str, Any],
        origin: str,
        env: GymEnv | None = None,
        **kwargs: Any,
    ) -> SelfBandit:
        artifacts.require(document, ["kind", "hyperparameters", "training", "n_actions"], origin)
        if document["kind"] != cls.kind:
            raise ArtifactError(f"{origin} holds a {document['kind']!r}, not a {cls.kind!r}")
        if env is None:
            env = gym_metatasks.family(document["training"]["env_id"]).make(0)
        model = cls("BanditPolicy", env, **{**document["hyperparameters"], **kwargs})
        statistics = {k: t.numpy().astype(np.float64) for k, t in tensors.items()}
        expected = model.statistics()
        if {k: v.shape for k, v in statistics.items()} != {k: v.shape for k, v in expected.items()}:
            raise ArtifactError(
                f"{origin}: statistics {sorted(statistics)} do not fit a {cls.__name__} for "
                f"{model.observation_space} and {model.action_space}"
            )
        model.set_statistics(statistics)
        model.training = dict(document["training"])
        return model


def pretrain_bandit(
    cls: type[SelfBandit],
    env_id: str,
    *,
    sessions: int = 10_000,
    seed: int = 0,
    task_ids: list[int] | None = None,
    progress_bar: bool = False,
    **hyperparameters: Any,
) -> SelfBandit:
    """A bandit fit on ``sessions`` sessions of train-split users (drawn with ``seed``, or
    cycled through ``task_ids``), each served with the bandit's own exploration.

    :param cls: the bandit class
    :param env_id: a registered family
    :param sessions: sessions, each with a user drawn from the train split
    :param seed: seed of the user draws and the bandit
    :param task_ids: the users, instead of the whole train split (never test tasks)
    :param progress_bar: show a bar of sessions on stderr (``population sessions``)
    """
    family = gym_metatasks.family(env_id)
    check_int("sessions", sessions, 1)
    users = check_train_tasks(family, task_ids) if task_ids else list(family.train_task_ids)
    rng = np.random.default_rng(seed)
    start = time.process_time()
    env = family.make(users[0])
    model = cls("BanditPolicy", env, seed=seed, **hyperparameters)
    steps = 0
    with Progress(progress_bar).phase("population sessions", sessions, unit="session") as bar:
        for k in range(sessions):
            user = (
                users[int(rng.integers(len(users)))] if task_ids is None else users[k % len(users)]
            )
            obs, _ = env.reset(seed=seed * 1_000_003 + k, options={"task_id": user})
            model.set_descriptor(family.descriptor(user))
            done = False
            while not done:
                action = int(model.explore_actions(np.array([obs], dtype=np.int64))[0])
                next_obs, reward, terminated, truncated, _ = env.step(action)
                model.update(int(obs), action, float(reward))
                obs, done, steps = next_obs, terminated or truncated, steps + 1
            bar.update(1)
    env.close()
    model.training = {
        "env_id": env_id,
        "family_key": family.key,
        "sessions": sessions,
        "steps": steps,
        "seed": seed,
        "users": len(users),
        "cost": {"core_seconds": time.process_time() - start},
    }
    return model
