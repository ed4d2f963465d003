"""Tabular Q-learning with Stable-Baselines3's surface, and its meta variant whose Q-table
starts from the nearest source task's table in a :class:`~sb3_metadqn.baselines.table_bank.TableBank`.

>>> from sb3_metadqn.agents.tabular_q import TabularQLearning
>>> model = TabularQLearning("TabularPolicy", "MetaNav-v0", seed=0)  # doctest: +SKIP
>>> model.learn(20_000).q_table.shape  # doctest: +SKIP
(64, 4)
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import (
    ConstantSchedule,
    FloatSchedule,
    LinearSchedule,
    is_vectorized_observation,
    safe_mean,
)

from sb3_metadqn._version import __version__
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.spaces import describe_space, same_space, space_from_description

KIND = "tabular-q-learning"
DEFAULT_MAX_TABLE_ENTRIES = 10_000_000
SelfTabularQLearning = TypeVar("SelfTabularQLearning", bound="TabularQLearning")
ALLOWED_SPACES = (
    "Discrete(n), MultiDiscrete(nvec), or a one-hot Box(0, 1, (n,)) (each observation "
    "exactly one 1, the rest 0)"
)
# Hyperparameters a saved model records and ``load(**kwargs)`` may override.
HYPERPARAMETERS = (
    "learning_rate",
    "gamma",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_table_entries",
    "stats_window_size",
    "seed",
)
LOAD_OVERRIDES = frozenset(HYPERPARAMETERS) - {"max_table_entries", "seed"} | {
    "verbose",
    "tensorboard_log",
}


# ---------------------------------------------------------------------- observation -> state
class StateIndex:
    """Row of the Q-table for each observation of a tabular observation space.

    ``Discrete(n, start)``: ``obs - start``; ``MultiDiscrete(nvec)``: ``np.ravel_multi_index``;
    a 1-D ``Box`` with low 0 and high 1: the position of the single 1 of a one-hot vector.

    :param space: the observation space
    :raises ValueError: for any other space, naming what is allowed
    """

    def __init__(self, space: spaces.Space[Any]) -> None:
        self.space = space
        if isinstance(space, spaces.Discrete):
            self.kind = "discrete"
            self.n_states = int(space.n)
            self._start = np.asarray(space.start, dtype=np.int64)
        elif isinstance(space, spaces.MultiDiscrete):
            self.kind = "multi_discrete"
            self._nvec = tuple(int(n) for n in np.ravel(space.nvec))
            self._start = np.ravel(np.asarray(space.start, dtype=np.int64))
            self.n_states = math.prod(self._nvec)
        elif (
            isinstance(space, spaces.Box)
            and len(space.shape) == 1
            and space.shape[0] >= 1
            and np.all(space.low == 0)
            and np.all(space.high == 1)
        ):
            self.kind = "one_hot"
            self.n_states = int(space.shape[0])
        else:
            raise ValueError(
                f"env: observation_space {space} cannot index a Q-table; allowed: "
                f"{ALLOWED_SPACES}. Discretize a continuous space first, e.g. with "
                "gymnasium.wrappers.DiscretizeObservation(env, bins=10)"
            )

    def __call__(self, batch: Any) -> NDArray[np.int64]:
        """States of a batch of observations, shape ``(n,)``; ``batch`` has shape
        ``(n, *observation_shape)``.

        :raises ValueError: naming the observation when it is not in the space
        """
        obs = np.asarray(batch)
        if self.kind == "one_hot":
            obs = obs.reshape(-1, self.n_states)
            # Every row sums to 1 and there are as many non-zeros as rows: exactly one-hot.
            if np.count_nonzero(obs) != obs.shape[0] or not (obs.sum(axis=1) == 1).all():
                valid = (np.count_nonzero(obs, axis=1) == 1) & (obs.sum(axis=1) == 1)
                bad = obs[int(np.flatnonzero(~valid)[0])]
                raise ValueError(
                    f"observation {bad.tolist()} is not one-hot: a Box(0, 1, "
                    f"({self.n_states},)) observation space is read as a one-hot state "
                    "encoding, so every observation must hold exactly one 1 and 0 elsewhere"
                )
            return obs.argmax(axis=1).astype(np.int64, copy=False)
        if self.kind == "discrete":
            flat = obs.reshape(-1)
            states = flat.astype(np.int64) - self._start
            valid = (states >= 0) & (states < self.n_states) & (states + self._start == flat)
        else:
            rows = obs.reshape(-1, len(self._nvec))
            shifted = rows.astype(np.int64) - self._start
            valid = np.all(
                (shifted >= 0) & (shifted < self._nvec) & (shifted + self._start == rows), 1
            )
            states = np.zeros(len(rows), dtype=np.int64)
            if valid.all():
                states = np.ravel_multi_index(tuple(shifted.T), self._nvec).astype(np.int64)
        if not valid.all():
            bad = obs.reshape(len(valid), -1)[int(np.flatnonzero(~valid)[0])]
            raise ValueError(
                f"observation {bad.tolist()} is not in the observation space {self.space}"
            )
        return states


def _check_action_space(space: spaces.Space[Any]) -> int:
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            f"env: action_space must be Discrete for tabular Q-learning, got {space}; "
            "discretize continuous actions first (e.g. gymnasium.wrappers.DiscretizeAction)"
        )
    return int(space.n)


def _check_table_size(index: StateIndex, n_actions: int, max_table_entries: int) -> tuple[int, int]:
    entries = index.n_states * n_actions
    if entries > max_table_entries:
        raise ValueError(
            f"a Q-table for observation_space {index.space} and {n_actions} actions has "
            f"{index.n_states:,} states x {n_actions} actions = {entries:,} entries "
            f"({entries * 8 / 1e9:.3g} GB as float64), more than max_table_entries="
            f"{max_table_entries:,}; use a coarser observation space or raise max_table_entries"
        )
    return index.n_states, n_actions


def check_q_table(value: Any, shape: tuple[int, int], name: str = "q_table_init") -> np.ndarray:
    """A finite float64 ``(n_states, n_actions)`` table from a scalar or an array-like."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be None, a number or an array of shape {shape}, got {value!r}"
        ) from error
    if array.ndim == 0:
        array = np.full(shape, float(array))
    if array.shape != shape:
        raise ValueError(
            f"{name} must have shape {shape} (n_states, n_actions), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(array)))} NaN/inf")
    return np.array(array, dtype=np.float64, copy=True)


# ---------------------------------------------------------------------- policy
class TabularQPolicy(BasePolicy):
    """Greedy policy of a Q-table: ``argmax_a Q(s, a)``, lowest action index on ties.

    :param observation_space: a tabular observation space (see :class:`StateIndex`)
    :param action_space: ``Discrete`` action space
    :param lr_schedule: unused (the table has no optimizer); accepted for SB3's policy API
    :param q_table_init: initial table: None (zeros), a number, or ``(n_states, n_actions)``
    :param max_table_entries: refuse tables with more than this many entries

    ``q_table`` is a float64 buffer of shape ``(n_states, n_actions)``.
    """

    q_table: torch.Tensor

    def __init__(
        self,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        lr_schedule: Schedule | None = None,
        q_table_init: Any = None,
        max_table_entries: int = DEFAULT_MAX_TABLE_ENTRIES,
    ) -> None:
        super().__init__(observation_space, action_space)
        self.state_index = StateIndex(observation_space)
        shape = _check_table_size(
            self.state_index, _check_action_space(action_space), max_table_entries
        )
        self.action_start = int(action_space.start)  # type: ignore[attr-defined]
        table = np.zeros(shape) if q_table_init is None else check_q_table(q_table_init, shape)
        self.register_buffer("q_table", torch.from_numpy(table))

    @property
    def table(self) -> NDArray[np.float64]:
        """The Q-table as a numpy array sharing memory with the ``q_table`` buffer."""
        return self.q_table.numpy()

    def greedy_actions(self, states: NDArray[np.int64]) -> NDArray[np.int64]:
        """Greedy actions (lowest index on ties) of a batch of states, shape ``(n,)``."""
        return self.table[states].argmax(axis=1).astype(np.int64) + self.action_start

    def forward(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self._predict(obs, deterministic)

    def _predict(self, observation: Any, deterministic: bool = True) -> torch.Tensor:
        states = self.state_index(np.asarray(torch.as_tensor(observation).cpu()))
        return torch.as_tensor(self.greedy_actions(states))

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Greedy actions: shape ``()`` for one observation, ``(n,)`` for a batch (no torch)."""
        if (
            isinstance(observation, tuple)
            and len(observation) == 2
            and isinstance(observation[1], dict)
        ):
            raise ValueError(
                "predict() got a tuple (obs, info): pass only the observation "
                "(Gymnasium's env.reset() returns (obs, info), SB3's VecEnv.reset() only obs)"
            )
        obs = np.asarray(observation)
        vectorized = is_vectorized_observation(obs, self.observation_space)
        actions = self.greedy_actions(self.state_index(obs))
        return (actions if vectorized else actions.squeeze(axis=0)), state

    def save(self, path: str) -> None:
        """Not supported (SB3 pickles policies): save the algorithm with ``model.save``."""
        raise NotImplementedError(
            "TabularQPolicy is not saved on its own; use model.save(path) (safetensors)"
        )

    @classmethod
    def load(cls, path: str, device: torch.device | str = "auto") -> TabularQPolicy:
        """Not supported (SB3 unpickles policies): use ``TabularQLearning.load``."""
        raise NotImplementedError(
            "TabularQPolicy is not loaded on its own; use TabularQLearning.load(path)"
        )


# ---------------------------------------------------------------------- argument checks
def _check_number(
    name: str, value: Any, low: float, high: float, *, open_low: bool = False
) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a number, got {value!r} of type {type(value).__name__}")
    number = float(value)
    low_ok = number > low if open_low else number >= low
    if not (math.isfinite(number) and low_ok and number <= high):
        interval = f"{'(' if open_low else '['}{low}, {high}]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return number


def _check_int(name: str, value: Any, low: int, what: str = "") -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}{what}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}{what}, got {value!r}")
    return int(value)


def _check_learning_rate(value: Any) -> float | Schedule:
    if callable(value):
        first = value(1.0)
        _check_number(
            "learning_rate(1.0) (the schedule's first value)", first, 0.0, 1.0, open_low=True
        )
        return value
    return _check_number("learning_rate", value, 0.0, 1.0, open_low=True)


def _schedule_document(schedule: float | Schedule) -> dict[str, Any]:
    """JSON form of a float or an SB3 constant/linear schedule (other callables: by repr)."""
    if isinstance(schedule, FloatSchedule):
        return _schedule_document(schedule.value_schedule)
    if isinstance(schedule, (int, float)):
        return {"type": "constant", "value": float(schedule)}
    if isinstance(schedule, ConstantSchedule):
        return {"type": "constant", "value": float(schedule.val)}
    if isinstance(schedule, LinearSchedule):
        return {
            "type": "linear",
            "start": float(schedule.start),
            "end": float(schedule.end),
            "end_fraction": float(schedule.end_fraction),
        }
    return {"type": "callable", "repr": repr(schedule)}


def _schedule_from_document(document: Any, source: str) -> float | Schedule:
    if not isinstance(document, dict) or "type" not in document:
        raise ArtifactError(f"{source}: learning_rate {document!r} is not a schedule document")
    if document["type"] == "constant":
        return float(document["value"])
    if document["type"] == "linear":
        return LinearSchedule(
            float(document["start"]), float(document["end"]), float(document["end_fraction"])
        )
    raise ArtifactError(
        f"{source} was trained with the learning-rate schedule {document.get('repr')}, which "
        "cannot be stored without pickle; pass learning_rate= to load()"
    )


def _generators(seed: int | None) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent exploration and ``predict`` generators of a seed (None: OS entropy)."""
    learn, predict = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(learn), np.random.default_rng(predict)


def _rng_from_state(state: Any, source: str) -> np.random.Generator:
    generator = np.random.Generator(np.random.PCG64())
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise ArtifactError(f"{source}: invalid random generator state: {error}") from error
    return generator


def _check_load_overrides(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - LOAD_OVERRIDES)
    if unknown:
        raise TypeError(
            f"load() got unexpected keyword argument(s) {unknown}; allowed: "
            f"{sorted(LOAD_OVERRIDES)}"
        )


# ---------------------------------------------------------------------- the algorithm
@artifacts.register
class TabularQLearning(BaseAlgorithm):
    """Tabular Q-learning (Watkins & Dayan, 1992) with Stable-Baselines3's algorithm surface.

    One update per transition of every sub-env,
    ``Q(s, a) += alpha * (r + gamma * (1 - terminated) * max_a' Q(s', a') - Q(s, a))``,
    bootstrapping through time-limit truncations as SB3 does. Behaviour is epsilon-greedy
    (greedy ties broken uniformly at random) with DQN's linear epsilon schedule; ``predict``
    is greedy with the lowest action index on ties. The inner loop runs on numpy arrays.
    All randomness comes from numpy Generators seeded by ``seed`` and saved with the model,
    so a seed fixes the table and save -> load -> learn continues an uninterrupted run.
    Unlike SB3, seeding leaves the global ``random``/``np.random``/torch generators alone.

    Defaults come from a sweep on 8 train tasks per family (the greedy policy scored every
    500 steps by its exact expected return under the task's model, normalized so that 0 is
    random and 1 optimal): ``learning_rate=0.1``, ``exploration_fraction=0.2``, epsilon
    from 1.0 to ``exploration_final_eps=0.1``.

    - MetaNav-v0 (30k steps, 2 seeds): every learning rate in {0.05, 0.1, 0.2} and fraction
      in {0.1, 0.2, 0.5} reached 0.9 and stayed there on all 16 task-seeds; with the defaults
      after a median of 1,750 steps (learning rate 0.05: 2,500). Learning rate 0.5 settled
      late or not at all on slippery tasks (one of 8 not within 50k steps).
    - MetaFrozenLake4x4-v0 (30k steps, 2 seeds): learning rate 0.1 stayed at 0.9 on 15-16 of
      16 task-seeds (mean final 0.98, median 10k-20k steps); 0.05 missed 2, 0.2 settled later
      (median 26k).
    - MetaFrozenLake-v0 (8x8, sparse reward, 200k steps): the hardest. Final epsilon 0.1
      gave a mean final 0.74 (9 of 16 task-seeds at 0.9) against 0.62 (6 of 16) for DQN's
      0.05; learning rates 0.05/0.1/0.2 gave 0.49/0.53/0.59 (one seed, within noise). An
      optimistic ``q_table_init=1.0`` (the largest reward) helped more: 0.79 (0.86 with
      learning rate 0.2), one seed.

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

    ``model.q_table`` is the ``(n_states, n_actions)`` float64 table (a numpy view of
    ``model.policy.q_table``); ``model.state_index(obs_batch)`` maps observations to rows.
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
        policy = self._check_policy(policy)
        if env is None and _init_setup_model:
            raise ValueError(
                "env is required: TabularQLearning('TabularPolicy', env) (a Gymnasium env, a "
                "VecEnv or a registered id such as 'MetaNav-v0')"
            )
        try:
            resolved = torch.device("cpu" if device == "auto" else device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"device must be 'cpu', got {device!r}: {error}") from error
        if resolved.type != "cpu":
            raise ValueError(f"device must be 'cpu' (the Q-table lives in numpy), got {device!r}")
        self.gamma = _check_number("gamma", gamma, 0.0, 1.0)
        self.exploration_fraction = _check_number(
            "exploration_fraction", exploration_fraction, 0.0, 1.0, open_low=True
        )
        self.exploration_initial_eps = _check_number(
            "exploration_initial_eps", exploration_initial_eps, 0.0, 1.0
        )
        self.exploration_final_eps = _check_number(
            "exploration_final_eps", exploration_final_eps, 0.0, 1.0
        )
        self.max_table_entries = _check_int("max_table_entries", max_table_entries, 1)
        _check_int("stats_window_size", stats_window_size, 1)
        _check_int("verbose", verbose, 0)
        if seed is not None:
            _check_int("seed", seed, 0, " or None")
        if tensorboard_log is not None and not isinstance(tensorboard_log, (str, os.PathLike)):
            raise TypeError(f"tensorboard_log must be None or a path, got {tensorboard_log!r}")
        learning_rate = _check_learning_rate(learning_rate)
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
            _check_table_size(
                StateIndex(self.observation_space),
                _check_action_space(self.action_space),
                self.max_table_entries,
            )
        if _init_setup_model:
            self._setup_model()

    @classmethod
    def _check_policy(cls, policy: Any) -> Any:
        if isinstance(policy, str):
            if policy not in cls.policy_aliases:
                raise ValueError(
                    f"policy must be one of {sorted(cls.policy_aliases)} or a TabularQPolicy "
                    f"subclass, got {policy!r}"
                )
            return policy
        if isinstance(policy, type) and issubclass(policy, TabularQPolicy):
            return policy
        hint = (
            " (the env goes second: TabularQLearning('TabularPolicy', env))"
            if hasattr(policy, "step") or hasattr(policy, "step_async")
            else ""
        )
        raise TypeError(
            f"policy must be 'TabularPolicy' or a TabularQPolicy subclass, got {policy!r}{hint}"
        )

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
        seed = _check_int("seed", seed, 0, " or None")
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
        _check_int("total_timesteps", total_timesteps, 0)
        _check_int("log_interval", log_interval, 1)
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

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        result = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        for key, value in (self.meta_init or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.logger.record(f"meta_init/{key}", value)
        return result

    def dump_logs(self) -> None:
        """Write the logs: episode statistics, exploration rate, learning rate, fps."""
        assert self.ep_info_buffer is not None
        assert self.ep_success_buffer is not None
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        if len(self.ep_info_buffer) > 0 and len(self.ep_info_buffer[0]) > 0:
            self.logger.record(
                "rollout/ep_rew_mean", safe_mean([e["r"] for e in self.ep_info_buffer])
            )
            self.logger.record(
                "rollout/ep_len_mean", safe_mean([e["l"] for e in self.ep_info_buffer])
            )
        if len(self.ep_success_buffer) > 0:
            self.logger.record("rollout/success_rate", safe_mean(self.ep_success_buffer))
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self.logger.record(
            "train/learning_rate", self.lr_schedule(self._current_progress_remaining)
        )
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    # ------------------------------------------------------------------ persistence
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments that define training, JSON-ready."""
        return {
            "learning_rate": _schedule_document(self.learning_rate),
            "gamma": self.gamma,
            "exploration_fraction": self.exploration_fraction,
            "exploration_initial_eps": self.exploration_initial_eps,
            "exploration_final_eps": self.exploration_final_eps,
            "max_table_entries": self.max_table_entries,
            "stats_window_size": self._stats_window_size,
            "seed": self.seed,
        }

    def _document(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "algorithm": type(self).__name__,
            "package_version": __version__,
            "hyperparameters": self.hyperparameters(),
            "observation_space": describe_space(self.observation_space),
            "action_space": describe_space(self.action_space),
            "n_envs": self.n_envs,
            "num_timesteps": self.num_timesteps,
            "total_timesteps": self._total_timesteps,
            "episode_num": self._episode_num,
            "n_updates": self._n_updates,
            "exploration": {
                "exploration_rate": self.exploration_rate,
                "progress_remaining": self._current_progress_remaining,
            },
            "rng": {
                "learn": self._rng.bit_generator.state,
                "predict": self._predict_rng.bit_generator.state,
            },
            "meta_init": self.meta_init,
        }

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""
        document = self._document()
        keys = ("kind", "algorithm", "package_version", "hyperparameters", "num_timesteps")
        return {
            **{k: document[k] for k in keys},
            "observation_space": document["observation_space"],
            "action_space": document["action_space"],
            "meta_init": self.meta_init,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:  # type: ignore[override]
        """Write the model atomically as one safetensors file (no pickle): the table, and a
        JSON document with hyperparameters, spaces, counters, exploration and RNG state.
        The env's current observation is kept for ``load(..., force_reset=False)``."""
        tensors = {"q_table": self.policy.q_table}
        if self._last_obs is not None and self._last_episode_starts is not None:
            tensors["last_obs"] = torch.from_numpy(np.ascontiguousarray(self._last_obs))
            tensors["last_episode_starts"] = torch.from_numpy(
                np.ascontiguousarray(self._last_episode_starts, dtype=bool)
            )
        return artifacts.write(path, tensors, self._document())

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
        _check_load_overrides(kwargs)
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
        source: str,
        env: GymEnv | None = None,
        device: torch.device | str = "cpu",
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfTabularQLearning:
        """:meth:`load` from an artifact's tensors and document."""
        _check_load_overrides(kwargs)
        cls._check_document(document, source)
        hyper = dict(document["hyperparameters"])
        if "learning_rate" not in kwargs:
            hyper["learning_rate"] = _schedule_from_document(hyper["learning_rate"], source)
        hyper.update(kwargs)
        observation_space, action_space = cls._saved_spaces(document, source)
        if env is not None:
            env = cls._wrap_env(env, int(kwargs.get("verbose", 0)))
            for name, saved, theirs in (
                ("observation space", document["observation_space"], env.observation_space),
                ("action space", document["action_space"], env.action_space),
            ):
                if not same_space(saved, describe_space(theirs)):
                    raise ValueError(
                        f"env: its {name} {theirs} differs from the saved model's {saved}"
                    )
        try:
            model = cls(
                env=env,
                device=device,
                _init_setup_model=False,
                **{k: hyper[k] for k in HYPERPARAMETERS},
                **{k: v for k, v in kwargs.items() if k not in HYPERPARAMETERS},
            )
        except (TypeError, ValueError) as error:
            if isinstance(error, ArtifactError):
                raise
            raise ArtifactError(f"{source} holds invalid hyperparameters: {error}") from error
        model.observation_space, model.action_space = observation_space, action_space
        shape = (StateIndex(observation_space).n_states, int(action_space.n))  # type: ignore[attr-defined]
        artifacts.require(tensors, ["q_table"], source)
        table = tensors["q_table"]
        if table.dtype != torch.float64 or tuple(table.shape) != shape:
            raise ArtifactError(
                f"{source}: q_table is {table.dtype} of shape {tuple(table.shape)}, expected "
                f"float64 of shape {shape} for its spaces"
            )
        if not torch.isfinite(table).all():
            raise ArtifactError(f"{source}: q_table holds NaN or inf")
        model._build(table.numpy())
        model._restore_state(document, tensors, source, force_reset=force_reset or env is None)
        return model

    @classmethod
    def _check_document(cls, document: dict[str, Any], source: str) -> None:
        keys = [
            "kind", "algorithm", "hyperparameters", "observation_space", "action_space",
            "n_envs", "num_timesteps", "total_timesteps", "episode_num", "n_updates",
            "exploration", "rng", "meta_init",
        ]  # fmt: skip
        artifacts.require(document, ["kind"], source)
        if document["kind"] != KIND:
            raise ArtifactError(f"{source} holds a {document['kind']!r}, not a {KIND!r}")
        artifacts.require(document, keys, source)
        if cls is not TabularQLearning and document["algorithm"] != cls.__name__:
            raise ArtifactError(
                f"{source} holds a {document['algorithm']}; load it with "
                f"{document['algorithm']}.load (or TabularQLearning.load)"
            )
        hyper = document["hyperparameters"]
        if not isinstance(hyper, dict):
            raise ArtifactError(f"{source}: hyperparameters is not a JSON object")
        artifacts.require(hyper, list(HYPERPARAMETERS), source + " (hyperparameters)")
        artifacts.require(
            document["exploration"], ["exploration_rate", "progress_remaining"], source
        )
        artifacts.require(document["rng"], ["learn", "predict"], source)
        for key in ("num_timesteps", "total_timesteps", "episode_num", "n_updates", "n_envs"):
            value = document[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ArtifactError(f"{source}: {key} must be a non-negative int, got {value!r}")

    @staticmethod
    def _saved_spaces(
        document: dict[str, Any], source: str
    ) -> tuple[spaces.Space[Any], spaces.Space[Any]]:
        try:
            observation_space = space_from_description(document["observation_space"])
            action_space = space_from_description(document["action_space"])
            StateIndex(observation_space)
            _check_action_space(action_space)
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{source} has invalid spaces: {error}") from error
        return observation_space, action_space

    def _restore_state(
        self,
        document: dict[str, Any],
        tensors: dict[str, torch.Tensor],
        source: str,
        *,
        force_reset: bool,
    ) -> None:
        self.num_timesteps = document["num_timesteps"]
        self._total_timesteps = document["total_timesteps"]
        self._episode_num = document["episode_num"]
        self._n_updates = document["n_updates"]
        exploration = document["exploration"]
        try:
            self.exploration_rate = _check_number(
                "exploration_rate", exploration["exploration_rate"], 0.0, 1.0
            )
            self._current_progress_remaining = float(exploration["progress_remaining"])
        except (TypeError, ValueError) as error:
            raise ArtifactError(f"{source}: invalid exploration state: {error}") from error
        self._rng = _rng_from_state(document["rng"]["learn"], source)
        self._predict_rng = _rng_from_state(document["rng"]["predict"], source)
        meta_init = document["meta_init"]
        if meta_init is not None and not isinstance(meta_init, dict):
            raise ArtifactError(f"{source}: meta_init must be a JSON object or null")
        self.meta_init = meta_init
        if force_reset or "last_obs" not in tensors:
            self._last_obs = None
            return
        saved_envs = document["n_envs"]
        if self.n_envs != saved_envs:
            raise ValueError(
                f"force_reset=False continues the saved episodes of {saved_envs} sub-env(s); "
                f"the env has {self.n_envs}"
            )
        last_obs = tensors["last_obs"].numpy()
        try:
            self.state_index(last_obs)
        except ValueError as error:
            raise ArtifactError(f"{source}: invalid last_obs: {error}") from error
        if len(last_obs) != saved_envs or "last_episode_starts" not in tensors:
            raise ArtifactError(f"{source}: last_obs does not hold {saved_envs} observations")
        self._last_obs = last_obs
        self._last_episode_starts = tensors["last_episode_starts"].numpy()


__all__ = [
    "StateIndex",
    "TabularQLearning",
    "TabularQPolicy",
]
