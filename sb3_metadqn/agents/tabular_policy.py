"""The tabular policy: observations to Q-table rows (:class:`StateIndex`), the checks that
spaces and a table fit, and :class:`TabularQPolicy`, greedy on a numpy Q-table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import is_vectorized_observation

DEFAULT_MAX_TABLE_ENTRIES = 10_000_000
ALLOWED_SPACES = (
    "Discrete(n), MultiDiscrete(nvec), or a one-hot Box(0, 1, (n,)) (each observation "
    "exactly one 1, the rest 0)"
)


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


def check_action_space(space: spaces.Space[Any]) -> int:
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            f"env: action_space must be Discrete for tabular Q-learning, got {space}; "
            "discretize continuous actions first (e.g. gymnasium.wrappers.DiscretizeAction)"
        )
    return int(space.n)


def check_table_size(index: StateIndex, n_actions: int, max_table_entries: int) -> tuple[int, int]:
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
        shape = check_table_size(
            self.state_index, check_action_space(action_space), max_table_entries
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


def check_device(device: Any) -> None:
    """``ValueError`` unless ``device`` means the CPU (``"auto"`` does: the table is numpy)."""
    try:
        resolved = torch.device("cpu" if device == "auto" else device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'cpu', got {device!r}: {error}") from error
    if resolved.type != "cpu":
        raise ValueError(f"device must be 'cpu' (the Q-table lives in numpy), got {device!r}")


def check_policy(policy: Any, aliases: dict[str, Any]) -> Any:
    """The ``policy`` argument of a tabular agent: an alias of ``aliases`` or a
    :class:`TabularQPolicy` subclass; errors name what is allowed."""
    if isinstance(policy, str):
        if policy not in aliases:
            raise ValueError(
                f"policy must be one of {sorted(aliases)} or a TabularQPolicy "
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
