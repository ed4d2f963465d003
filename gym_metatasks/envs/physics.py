"""Shared machinery of the physics families: bounded parameters, their normalized
descriptor, reference and measured random returns, and the env mixin that wraps one of
Gymnasium's classic-control environments."""

from __future__ import annotations

import functools
import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, SupportsFloat, TypeVar

import numpy as np
from numpy.typing import NDArray

from gym_metatasks.family import TaskFamily
from gym_metatasks.meta_env import MetaTaskEnv
from gym_metatasks.task_rng import TaskRng
from gym_metatasks.validation import check_real

TaskT = TypeVar("TaskT")
RANDOM_RETURNS_FILE = "random_returns.json"
RANDOM_RETURN_SEED = 0


@dataclass(frozen=True)
class Parameter:
    """A physical parameter of a family: its bounds, Gymnasium's default and a meaning."""

    name: str
    low: float
    high: float
    default: float
    doc: str


class PhysicsFamily(TaskFamily[TaskT]):
    """A family whose tasks are vectors of bounded physical parameters, each drawn
    uniformly within its bounds (6 significant digits).

    There is no exact oracle: :meth:`optimal_return` is the family's documented reference
    return and :meth:`random_return` is measured (stored for every numbered task at the
    registered horizon, measured on demand otherwise; deterministic either way).
    """

    oracle = "reference"
    num_tasks = 500
    num_train_range = 400
    parameters: ClassVar[tuple[Parameter, ...]]
    registered_horizon: ClassVar[int]
    random_return_episodes: ClassVar[int] = 100
    """Episodes behind each measured random return."""

    def __init__(self, *, horizon: int | None = None, env_id: str | None = None) -> None:
        super().__init__(horizon=horizon, env_id=env_id)

    def default_horizon(self) -> int:
        return self.registered_horizon

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def default_task(self) -> TaskT:
        """The parameters of Gymnasium's original environment."""
        return self.task_class(**{p.name: p.default for p in self.parameters})

    def reference_return(self, horizon: int) -> float:
        """The documented reference return used as ``optimal_return``."""
        raise NotImplementedError

    def make_unwrapped(self, task: TaskT) -> MetaTaskEnv:
        """An env of this family without wrappers (used to measure random returns)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks
    def _generate(self, rng: TaskRng) -> TaskT:
        values = {p.name: float(f"{rng.uniform(p.low, p.high):.6g}") for p in self.parameters}
        values = {
            p.name: min(max(values[p.name], p.low), p.high) for p in self.parameters
        }  # rounding may step just outside a bound
        return self.task_class(**values)

    def _validate(self, task: TaskT) -> TaskT:
        values = {
            p.name: check_real(f"task.{p.name}", getattr(task, p.name), p.low, p.high)
            for p in self.parameters
        }
        return self.task_class(**values)

    def _descriptor(self, task: TaskT) -> NDArray[np.float32]:
        return np.array(
            [(getattr(task, p.name) - p.low) / (p.high - p.low) for p in self.parameters],
            dtype=np.float32,
        )

    def _optimal_return(self, task: TaskT, horizon: int) -> float:
        return self.reference_return(horizon)

    def _random_return(self, task: TaskT, horizon: int, task_id: int | None) -> float:
        if task_id is not None and horizon == self.registered_horizon:
            stored = _stored_random_returns().get(self.base_env_id())
            if stored is not None and stored["horizon"] == horizon:
                return float(stored["mean"][task_id])
        return self.measure_random_return(task, horizon)[0]

    def measure_random_return(
        self,
        task: Any,
        horizon: int | None = None,
        episodes: int | None = None,
        seed: int = RANDOM_RETURN_SEED,
    ) -> tuple[float, float]:
        """Mean and standard error of the uniformly random policy's episode return over
        ``episodes`` episodes (default :attr:`random_return_episodes`; episode ``k`` is
        reset with ``seed + k``, actions drawn from ``default_rng(seed)``)."""
        _, params = self.resolve(task)
        horizon = self._horizon(horizon)
        episodes = self.random_return_episodes if episodes is None else episodes
        env = self.make_unwrapped(params)
        actions = np.random.default_rng(seed)
        n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
        returns = []
        for episode in range(episodes):
            env.reset(seed=seed + episode)
            total = 0.0
            for _ in range(horizon):
                _, reward, terminated, _, _ = env.step(int(actions.integers(n_actions)))
                total += float(reward)
                if terminated:
                    break
            returns.append(total)
        env.close()
        values = np.asarray(returns)
        stderr = float(values.std(ddof=1) / math.sqrt(episodes)) if episodes > 1 else 0.0
        return float(values.mean()), stderr


@functools.cache
def _stored_random_returns() -> dict[str, Any]:
    path = resources.files("gym_metatasks") / "data" / RANDOM_RETURNS_FILE
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class PhysicsTaskEnv(MetaTaskEnv):
    """Mixin placed before a Gymnasium classic-control env in the bases: switches tasks at
    reset, adds the ``info`` keys and applies parameters through :meth:`_apply_task`.

    ``is_success`` is ``terminated`` when the episode ends at a goal
    (``success_is_termination = True``) and ``not terminated`` when termination is failure.
    """

    extra_option_keys: ClassVar[frozenset[str]] = frozenset({"low", "high"})
    success_is_termination: ClassVar[bool]
    _gymnasium_step: Callable[[Any], tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]]
    """The wrapped Gymnasium class's ``step`` (set by each family's env class)."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        rest = self._switch_task_for_reset(options)
        observation, _ = super().reset(seed=seed, options=rest)
        return observation, self._info(not self.success_is_termination)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        # The hot path: the Gymnasium step is called directly (no super() lookup) and the
        # info dict is built inline (same keys as MetaTaskEnv._info).
        try:
            a = operator.index(action)
        except TypeError:
            a = -1
        n = int(self.action_space.n)  # type: ignore[attr-defined]
        if not 0 <= a < n:
            raise ValueError(f"action must be an int in [0, {n}), got {action!r}")
        result = self._gymnasium_step(a)
        info = {
            "task_id": self._task_id,
            "task_descriptor": self._descriptor.copy(),
            "is_success": result[2] == self.success_is_termination,
        }
        return result[0], result[1], result[2], result[3], info
