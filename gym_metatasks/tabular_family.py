""":class:`TabularFamily`: a family whose every task has a finite tabular model, and the exact
oracle that comes with one (optimal and random returns, Q* per steps left, the exact return
of any deterministic policy)."""

from __future__ import annotations

import abc
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from gym_metatasks import tabular
from gym_metatasks.family import TaskFamily

TaskT = TypeVar("TaskT")
#: Models kept per family before the cache starts over.
MODEL_CACHE_SIZE = 4096


class TabularFamily(TaskFamily[TaskT]):
    """A family with an exact model per task. A subclass implements ``_build_model``,
    :attr:`num_states` and :meth:`observation` (what the env observes in a state).

    :param horizon: see :class:`~gym_metatasks.family.TaskFamily`
    :param env_id: see :class:`~gym_metatasks.family.TaskFamily`
    """

    oracle = "exact"

    def __init__(self, *, horizon: int | None = None, env_id: str | None = None) -> None:
        super().__init__(horizon=horizon, env_id=env_id)
        self._models: dict[Any, tabular.TabularModel] = {}

    @property
    @abc.abstractmethod
    def num_states(self) -> int:
        """States of every task's model."""

    @abc.abstractmethod
    def _build_model(self, task: TaskT) -> tabular.TabularModel:
        """The task's transition model."""

    @abc.abstractmethod
    def observation(self, state: int) -> Any:
        """What the env observes in ``state`` (a fresh object each call)."""

    def state_observations(self) -> list[Any]:
        """The observation of every state, in state order."""
        return [self.observation(s) for s in range(self.num_states)]

    def model(self, task: Any) -> tabular.TabularModel:
        """The exact transition model of a task id or explicit task."""
        _, params = self.resolve(task)
        if params not in self._models:
            if len(self._models) >= MODEL_CACHE_SIZE:
                self._models.clear()
            self._models[params] = self._build_model(params)
        return self._models[params]

    def optimal_q_values(self, task: Any, horizon: int | None = None) -> NDArray[np.float64]:
        """Q* for every number of remaining steps: ``(horizon + 1, S, A)``; entry ``[t]``
        is Q* with ``t`` steps left. Acting greedily on ``[horizon - step]`` is optimal."""
        return tabular.optimal_q_values(self.model(task), self._horizon(horizon))

    def policy_return(self, task: Any, policy: Any, horizon: int | None = None) -> float:
        """Expected undiscounted return of a deterministic policy within the time limit, by
        dynamic programming on the model the env steps through.

        :param policy: an action per state (``(num_states,)`` ints), or a model with
            ``predict(observations, deterministic=True)`` (SB3's), asked once for the batch
            of :meth:`state_observations`
        """
        model = self.model(task)
        if hasattr(policy, "predict"):
            batch = np.stack([np.asarray(o) for o in self.state_observations()])
            policy, _ = policy.predict(batch, deterministic=True)
        actions = np.asarray(policy)
        if actions.shape != (self.num_states,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"policy must give one int action per state, shape ({self.num_states},), got "
                f"{actions.dtype} array of shape {actions.shape}"
            )
        if actions.min() < 0 or actions.max() >= model.num_actions:
            raise ValueError(
                f"policy actions must be in [0, {model.num_actions}), got values in "
                f"[{actions.min()}, {actions.max()}]"
            )
        return tabular.policy_return(model, actions, self._horizon(horizon))

    def _optimal_return(self, task: TaskT, horizon: int) -> float:
        return tabular.optimal_return(self.model(task), horizon)

    def _random_return(self, task: TaskT, horizon: int, task_id: int | None) -> float:
        return tabular.uniform_policy_return(self.model(task), horizon)
