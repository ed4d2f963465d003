"""Shared machinery of the physics families: bounded parameters, their normalized
descriptor, reference and measured random returns, and the env mixin that wraps one of
Gymnasium's classic-control environments.

Numbered tasks draw every parameter within its sampling bounds ``[low, high]``. Explicit
tasks may go further, anywhere in the parameter's valid range ``[low / 2, 1.5 high]``: such a
task is an extrapolation, and its descriptor leaves ``[0, 1]`` (the descriptor is the same
linear map of the sampling bounds, so ``-0.5 low / (high - low)`` at the valid range's lower
end). :meth:`PhysicsFamily.extrapolation_tasks` lists the standard extrapolation set."""

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
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks.family import TaskFamily
from gym_metatasks.meta_env import MetaTaskEnv
from gym_metatasks.task_rng import TaskRng
from gym_metatasks.validation import check_real

TaskT = TypeVar("TaskT")
RANDOM_RETURNS_FILE = "random_returns.json"
RANDOM_RETURN_SEED = 0
#: An explicit task's parameter may range from EXTRAPOLATE_LOW x its lower sampling bound to
#: EXTRAPOLATE_HIGH x its upper one.
EXTRAPOLATE_LOW, EXTRAPOLATE_HIGH = 0.5, 1.5


@dataclass(frozen=True)
class Parameter:
    """A physical parameter of a family: its bounds, Gymnasium's default and a meaning."""

    name: str
    low: float
    high: float
    default: float
    doc: str

    @property
    def valid_low(self) -> float:
        """The least value an explicit task may take: half the lower sampling bound."""
        return float(f"{EXTRAPOLATE_LOW * self.low:.12g}")

    @property
    def valid_high(self) -> float:
        """The greatest value an explicit task may take: 1.5 times the upper sampling bound."""
        return float(f"{EXTRAPOLATE_HIGH * self.high:.12g}")

    @property
    def median(self) -> float:
        """The median of the sampling distribution (uniform in ``[low, high]``)."""
        return (self.low + self.high) / 2

    def descriptor(self, value: float) -> float:
        """``value`` mapped linearly from the sampling bounds to ``[0, 1]``."""
        return (value - self.low) / (self.high - self.low)


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
        values = {}
        for p in self.parameters:
            try:
                values[p.name] = check_real(
                    f"task.{p.name}", getattr(task, p.name), p.valid_low, p.valid_high
                )
            except ValueError as error:
                raise ValueError(
                    f"{error} (the valid range: half the lower to 1.5 times the upper bound of "
                    f"the sampling range [{p.low}, {p.high}])"
                ) from None
        return self.task_class(**values)

    def _descriptor(self, task: TaskT) -> NDArray[np.float32]:
        return np.array(
            [p.descriptor(getattr(task, p.name)) for p in self.parameters], dtype=np.float32
        )

    # ------------------------------------------------------------------ extrapolation
    @property
    def descriptor_space(self) -> spaces.Box:
        """Descriptors of every valid task: ``[0, 1]`` per entry for numbered tasks, wider
        for explicit tasks beyond the sampling bounds (see the module docstring)."""
        low = np.array([p.descriptor(p.valid_low) for p in self.parameters], dtype=np.float32)
        high = np.array([p.descriptor(p.valid_high) for p in self.parameters], dtype=np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def in_sampling_bounds(self, task: Any) -> bool:
        """Whether every parameter of ``task`` lies within its sampling bounds (False: the
        task is an extrapolation)."""
        _, params = self.resolve(task)
        return all(p.low <= getattr(params, p.name) <= p.high for p in self.parameters)

    def extrapolation_tasks(self) -> dict[str, TaskT]:
        """The standard extrapolation set: each parameter in turn at half its lower and 1.5
        times its upper sampling bound, the others at their medians; keyed
        ``"<parameter>=low/2"`` and ``"<parameter>=1.5high"``."""
        median = {p.name: p.median for p in self.parameters}
        tasks = {}
        for p in self.parameters:
            for label, value in (("low/2", p.valid_low), ("1.5high", p.valid_high)):
                tasks[f"{p.name}={label}"] = self.validate({**median, p.name: value})
        return tasks

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
