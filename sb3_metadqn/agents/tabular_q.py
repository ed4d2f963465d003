"""Tabular Q-learning with Stable-Baselines3's surface; its inner loop runs on numpy arrays.

>>> from sb3_metadqn.agents.tabular_q import TabularQLearning
>>> model = TabularQLearning("TabularPolicy", "MetaNav-v0", seed=0)
>>> model.learn(2_000).q_table.shape  # (states, actions)
(64, 4)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import LinearSchedule

from sb3_metadqn._checks import check_int, check_learning_rate, check_number
from sb3_metadqn.agents.meta_init import LogsMetaInit
from sb3_metadqn.agents.tabular_artifact import (
    KIND,
    check_load_overrides,
    load_model,
    model_document,
    model_info,
    model_tensors,
    schedule_document,
)
from sb3_metadqn.agents.tabular_logs import dump_training_logs
from sb3_metadqn.agents.tabular_policy import (
    DEFAULT_MAX_TABLE_ENTRIES,
    StateIndex,
    TabularQPolicy,
    check_action_space,
    check_device,
    check_policy,
    check_table_size,
)
from sb3_metadqn.io import artifacts

SelfTabularQLearning = TypeVar("SelfTabularQLearning", bound="TabularQLearning")


def _generators(seed: int | None) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent exploration and ``predict`` generators of a seed (None: OS entropy)."""
    learn, predict = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(learn), np.random.default_rng(predict)


# ---------------------------------------------------------------------- the algorithm
@artifacts.register
class TabularQLearning(LogsMetaInit, BaseAlgorithm):
    """Tabular Q-learning (Watkins & Dayan, 1992) with Stable-Baselines3's algorithm surface.

    One update per transition of every sub-env, epsilon-greedy behaviour on DQN's linear
    schedule, greedy ``predict``; a seed fixes the table, and save -> load -> learn continues
    an uninterrupted run (the README, "Tabular Q-learning", states the update rule, the tie
    breaking, the seeding and where the defaults come from).

    :param policy: ``"TabularPolicy"`` or a subclass of :class:`TabularQPolicy`
    :param env: the env (or its registered id); observations ``Discrete(n)``,
        ``MultiDiscrete(nvec)`` or one-hot ``Box(0, 1, (n,))``, actions ``Discrete``
    :param learning_rate: step size alpha in ``(0, 1]``, or a schedule of the progress
        remaining (1 -> 0)
    :param gamma: discount factor in ``[0, 1]``
    :param exploration_fraction: fraction of the training run over which epsilon decays
        linearly from ``exploration_initial_eps`` to ``exploration_final_eps``, in ``(0, 1]``
    :param exploration_initial_eps: epsilon at the start of ``learn``
    :param exploration_final_eps: epsilon after the decay
    :param q_table_init: initial Q-table: None (zeros), a number (e.g. optimistic), or an
        array of shape ``(n_states, n_actions)``
    :param max_table_entries: refuse tables with more entries than this (states x actions)
    :param stats_window_size: episodes averaged for ``rollout/ep_rew_mean`` and friends
    :param tensorboard_log: directory for TensorBoard logs (None: no TensorBoard)
    :param verbose: 0 silent, 1 training logs, 2 debug
    :param seed: seed of the exploration and ``predict`` generators and of the env
    :param device: ``"cpu"`` (or ``"auto"``, which means cpu here: the table is numpy)
    :param _init_setup_model: build the table now (``load`` passes False)
    """

    kind: ClassVar[str] = KIND
    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"TabularPolicy": TabularQPolicy}
    policy: TabularQPolicy
    meta_init: dict[str, Any] | None

    def __init__(
        self,
        policy: str | type[TabularQPolicy] = "TabularPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 0.1,
        gamma: float = 0.99,
        exploration_fraction: float = 0.2,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.1,
        q_table_init: Any = None,
        max_table_entries: int = DEFAULT_MAX_TABLE_ENTRIES,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "cpu",
        _init_setup_model: bool = True,
    ) -> None:
        policy = check_policy(policy, self.policy_aliases)
        if env is None and _init_setup_model:
            raise ValueError(
                "env is required: TabularQLearning('TabularPolicy', env) (a Gymnasium env, a "
                "VecEnv or a registered id such as 'MetaNav-v0')"
            )
        check_device(device)
        self.gamma = check_number("gamma", gamma, 0.0, 1.0)
        self.exploration_fraction = check_number(
            "exploration_fraction", exploration_fraction, 0.0, 1.0, open_low=True
        )
        self.exploration_initial_eps = check_number(
            "exploration_initial_eps", exploration_initial_eps, 0.0, 1.0
        )
        self.exploration_final_eps = check_number(
            "exploration_final_eps", exploration_final_eps, 0.0, 1.0
        )
        self.max_table_entries = check_int("max_table_entries", max_table_entries, 1)
        check_int("stats_window_size", stats_window_size, 1)
        check_int("verbose", verbose, 0)
        if seed is not None:
            check_int("seed", seed, 0, " or None")
        if tensorboard_log is not None and not isinstance(tensorboard_log, (str, os.PathLike)):
            raise TypeError(f"tensorboard_log must be None or a path, got {tensorboard_log!r}")
        learning_rate = check_learning_rate(learning_rate)
        self.q_table_init = q_table_init
        self.meta_init = None
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            stats_window_size=stats_window_size,
            tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
            verbose=verbose,
            device="cpu",
            support_multi_env=True,
            monitor_wrapper=True,
            seed=None if seed is None else int(seed),
        )
        self.exploration_rate = self.exploration_initial_eps
        self._rng, self._predict_rng = _generators(self.seed)
        if self.env is not None:
            # Fail here, not at the first step: the spaces must index a table that fits.
            check_table_size(
                StateIndex(self.observation_space),
                check_action_space(self.action_space),
                self.max_table_entries,
            )
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ setup
    def _setup_model(self) -> None:
        self._build(self._initial_q_table())

    def _initial_q_table(self) -> Any:
        """The table the policy starts from (``q_table_init``; subclasses override)."""
        return self.q_table_init

    def _build(self, q_table: Any) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space,
            self.action_space,
            self.lr_schedule,
            q_table_init=q_table,
            max_table_entries=self.max_table_entries,
        )
        self.state_index = self.policy.state_index

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed the exploration and ``predict`` generators, the action space and the env
        (at its next reset); the global generators are left alone."""
        if seed is None:
            return
        seed = check_int("seed", seed, 0, " or None")
        self._rng, self._predict_rng = _generators(seed)
        self.action_space.seed(seed)
        if self.env is not None:
            self.env.seed(seed)

    @property
    def q_table(self) -> NDArray[np.float64]:
        """The ``(n_states, n_actions)`` float64 Q-table (a view: writes change the model)."""
        return self.policy.table

    # ------------------------------------------------------------------ acting
    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Greedy action(s) (lowest index on ties); with ``deterministic=False`` each one is
        replaced by a uniformly random action with probability ``exploration_rate``, as in
        :meth:`stable_baselines3.DQN.predict`."""
        actions, state = self.policy.predict(observation, state, episode_start, deterministic)
        if deterministic or self.exploration_rate <= 0.0:
            return actions, state
        flat = np.array(actions, dtype=np.int64).reshape(-1)
        explore = self._predict_rng.random(flat.shape[0]) < self.exploration_rate
        random = self._predict_rng.integers(self.policy.table.shape[1], size=flat.shape[0])
        flat = np.where(explore, random + self.policy.action_start, flat)
        return flat.reshape(np.shape(actions)), state

    def _behaviour_action(self, row: list[float], epsilon: float) -> int:
        """Epsilon-greedy table index of an action given its Q-values ``row``; greedy ties
        are broken uniformly at random."""
        rng = self._rng
        if rng.random() < epsilon:
            return int(rng.integers(len(row)))
        best = max(row)
        ties = [a for a, value in enumerate(row) if value == best]
        return ties[0] if len(ties) == 1 else ties[int(rng.integers(len(ties)))]

    # ------------------------------------------------------------------ learning
    def learn(
        self: SelfTabularQLearning,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "TabularQLearning",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfTabularQLearning:
        """Run Q-learning for ``total_timesteps`` env steps (summed over sub-envs).

        :param total_timesteps: environment steps to train for
        :param callback: SB3 callback(s), called after every ``env.step``
        :param log_interval: write the logs every ``log_interval`` episodes
        :param tb_log_name: name of the TensorBoard run
        :param reset_num_timesteps: restart the step count (False: continue, keeping the
            env's current episode)
        :param progress_bar: show a progress bar (tqdm and rich)
        """
        check_int("total_timesteps", total_timesteps, 0)
        check_int("log_interval", log_interval, 1)
        if self.env is None:
            raise ValueError("learn() needs an env: pass env= to load() or call set_env(env)")
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        callback.on_rollout_start()
        env, table, index = self.env, self.policy.table, self.state_index
        n_envs, gamma, action_start = env.num_envs, self.gamma, self.policy.action_start
        states = index(self._last_obs).tolist()
        self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
        self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
        while self.num_timesteps < total_timesteps:
            alpha = self.lr_schedule(self._current_progress_remaining)
            epsilon = self.exploration_rate
            actions = [self._behaviour_action(table[s].tolist(), epsilon) for s in states]
            new_obs, rewards, dones, infos = env.step(np.add(actions, action_start))
            next_states = index(new_obs)
            for i in range(n_envs):
                s, a = states[i], actions[i]
                target = float(rewards[i])
                if not dones[i]:
                    target += gamma * max(table[next_states[i]].tolist())
                elif infos[i].get("TimeLimit.truncated", False):
                    final = infos[i].get("terminal_observation")
                    if final is None:
                        raise ValueError(
                            f"sub-env {i} was truncated without info['terminal_observation']; "
                            "use an SB3 VecEnv (they record it)"
                        )
                    target += gamma * max(table[index(np.asarray(final)[None])[0]].tolist())
                table[s, a] += alpha * (target - table[s, a])
            self.num_timesteps += n_envs
            self._n_updates += n_envs
            self._last_obs, self._last_episode_starts = new_obs, dones  # type: ignore[assignment]
            states = next_states.tolist()
            callback.update_locals(locals())
            if not callback.on_step():
                break
            self._update_info_buffer(infos, dones)
            self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
            self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
            for done in dones:
                if done:
                    self._episode_num += 1
                    if self._episode_num % log_interval == 0:
                        self.dump_logs()
        callback.on_rollout_end()
        callback.on_training_end()
        return self

    def dump_logs(self) -> None:
        """Write the logs: episode statistics, exploration rate, learning rate, fps."""
        dump_training_logs(self)

    # ------------------------------------------------------------------ persistence
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments that define training, JSON-ready."""
        return {
            "learning_rate": schedule_document(self.learning_rate),
            "gamma": self.gamma,
            "exploration_fraction": self.exploration_fraction,
            "exploration_initial_eps": self.exploration_initial_eps,
            "exploration_final_eps": self.exploration_final_eps,
            "max_table_entries": self.max_table_entries,
            "stats_window_size": self._stats_window_size,
            "seed": self.seed,
        }

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        return model_info(self)

    def save(self, path: str | os.PathLike[str]) -> Path:  # type: ignore[override]
        """Write the model atomically as one safetensors file (no pickle): the table, and a
        JSON document with hyperparameters, spaces, counters, exploration and RNG state.
        The env's current observation is kept for ``load(..., force_reset=False)``."""
        return artifacts.write(path, model_tensors(self), model_document(self))

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfTabularQLearning],
        path: str | os.PathLike[str],
        env: GymEnv | None = None,
        device: torch.device | str = "cpu",
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfTabularQLearning:
        """Read a model written by :meth:`save`, validating everything; never unpickles.

        :param path: the safetensors file
        :param env: env to continue training on; its spaces must equal the saved ones
        :param device: must be ``"cpu"``
        :param force_reset: reset the env before training (False: continue the saved
            episode, which needs ``env`` in the state it had at save time)
        :param kwargs: overrides of ``learning_rate``, ``gamma``, ``exploration_*``,
            ``stats_window_size``, ``verbose``, ``tensorboard_log``
        :raises ArtifactError: when the file is not a complete, consistent model
        """
        check_load_overrides(kwargs)
        tensors, document = artifacts.read(path)
        return cls.from_parts(
            tensors,
            document,
            f"artifact {str(path)!r}",
            env=env,
            device=device,
            force_reset=force_reset,
            **kwargs,
        )

    @classmethod
    def from_parts(
        cls: type[SelfTabularQLearning],
        tensors: dict[str, torch.Tensor],
        document: dict[str, Any],
        origin: str,
        env: GymEnv | None = None,
        device: torch.device | str = "cpu",
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfTabularQLearning:
        """:meth:`load` from an artifact's tensors and document."""
        algorithm = None if cls is TabularQLearning else cls.__name__
        return load_model(
            cls, tensors, document, origin, algorithm, env, device, force_reset, kwargs
        )


__all__ = ["TabularQLearning"]
