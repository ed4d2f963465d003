"""The family API: numbered tasks, descriptors, fixed splits, sampling and oracle returns,
all without constructing an environment.

:class:`TaskFamily` leaves seven hooks to its subclasses, six abstract: ``_generate`` (task
content from a task's own random stream), ``_validate`` (check and normalize explicit
parameters), ``_descriptor``, ``descriptor_names`` and the two oracle returns
(``_optimal_return``, ``_random_return``); the seventh, ``default_horizon``, raises
``NotImplementedError`` until overridden. ``config`` (default: no arguments) and
``policy_return`` (default: refused, no model) are optional overrides. ``TabularFamily``
(``tabular_family.py``) implements the two oracle returns and ``policy_return`` from an exact
model per task; on it, ``GridFamily`` (``envs/grid.py``) implements the other hooks but
``_generate`` and ``default_horizon``, left to each grid family's file, and
``RecommendFamily`` (``envs/recommend.py``) all of them; ``PhysicsFamily``
(``envs/physics.py``) implements all seven from the family's table of parameter bounds, so
a physics family's file states its bounds, its reference return and its env.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks.splits import TaskSplits
from gym_metatasks.task import Task
from gym_metatasks.task_rng import TaskRng, task_seed
from gym_metatasks.validation import MAX_HORIZON, check_int, check_task_id, coerce_task
from gym_metatasks.vector import make_task_vec_env

TaskT = TypeVar("TaskT")
FamilyT = TypeVar("FamilyT", bound="TaskFamily[Any]")


@dataclasses.dataclass(frozen=True)
class Registration:
    """A Gymnasium id under which a family is registered, with its configuration; the id's
    time limit is that configuration's ``default_horizon()``.

    :param env_id: the registered id, e.g. ``"MetaNav5x5-v0"``
    :param config: the family's constructor arguments for this id (also the env's)
    :param reward_threshold: the spec's ``reward_threshold``
    """

    env_id: str
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    reward_threshold: float | None = None


class TaskFamily(TaskSplits, abc.ABC, Generic[TaskT]):
    """A parameterized family of tasks sharing observation and action spaces.

    Task ``i`` is generated from a random stream seeded by the family key (name, version
    and configuration) and ``i`` alone, so it is the same task in every process. After
    removing every task whose descriptor repeats an earlier task's (so the splits are
    disjoint by content), task ids ``[0, num_train_range)`` form the train range: its last
    10% (by id) is the validation split, where settings are chosen, and the rest the train
    split, what (meta-)training draws from. ``[num_train_range, num_tasks)`` is the test
    split, held out for evaluation.

    :param horizon: the episode time limit the oracle returns refer to (default: the
        registered ``max_episode_steps`` of this configuration)
    :param env_id: the registered id :meth:`make` builds (default: the id of the
        :attr:`registrations` entry with this configuration, else ``f"{name}-v{version}"``)
    """

    name: ClassVar[str]
    version: ClassVar[int]
    task_class: ClassVar[type]
    num_tasks: ClassVar[int]
    num_train_range: ClassVar[int]
    oracle: ClassVar[Literal["exact", "reference"]]
    """``"exact"``: optimal/random returns by dynamic programming; ``"reference"``: a
    documented reference return and a measured random return."""
    registrations: ClassVar[tuple[Registration, ...]] = ()
    """The ids the family is registered under (``gym_metatasks.registration`` registers
    them with Gymnasium)."""

    def __init__(self, *, horizon: int | None = None, env_id: str | None = None) -> None:
        if horizon is None:
            horizon = self.default_horizon()
        self.horizon = check_int("horizon", horizon, 1, MAX_HORIZON)
        self.env_id = env_id or self._registered_id()
        self._tasks: dict[int, TaskT] = {}
        self._descriptors: dict[int, NDArray[np.float32]] = {}

    # ------------------------------------------------------------------ configuration
    @classmethod
    def base_env_id(cls) -> str:
        return f"{cls.name}-v{cls.version}"

    def _registered_id(self) -> str:
        for registration in self.registrations:
            if registration.config == self.config:
                return registration.env_id
        return self.base_env_id()

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments that define the task distribution (e.g. ``{"size": 8}``)."""
        return {}

    @property
    def key(self) -> str:
        """The string task seeds are derived from: name, version and configuration."""
        items = ",".join(f"{k}={v!r}" for k, v in sorted(self.config.items()))
        return f"{self.base_env_id()}[{items}]"

    def default_horizon(self) -> int:
        """The registered time limit of this configuration."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        sep = ", " if args else ""
        return f"{type(self).__name__}({args}{sep}horizon={self.horizon}, env_id={self.env_id!r})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, TaskFamily)
            and (other.config, other.horizon, other.env_id)
            == (self.config, self.horizon, self.env_id)
        )

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.config.items())), self.horizon, self.env_id))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle by configuration; caches are rebuilt on demand.
        return (_rebuild_family, (type(self), self.config, self.horizon, self.env_id))

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _generate(self, rng: TaskRng) -> TaskT:
        """Task content drawn from the task's own random stream; must be solvable."""

    @abc.abstractmethod
    def _validate(self, task: TaskT) -> TaskT:
        """Check explicit parameters and return them normalized (e.g. sorted cells)."""

    @abc.abstractmethod
    def _descriptor(self, task: TaskT) -> NDArray[np.float32]:
        """The task's descriptor, shape ``(D,)``, inside :attr:`descriptor_space`."""

    @abc.abstractmethod
    def _optimal_return(self, task: TaskT, horizon: int) -> float: ...

    @abc.abstractmethod
    def _random_return(self, task: TaskT, horizon: int, task_id: int | None) -> float: ...

    @property
    @abc.abstractmethod
    def descriptor_names(self) -> tuple[str, ...]:
        """One name per descriptor entry."""

    # ------------------------------------------------------------------ tasks
    @property
    def descriptor_space(self) -> spaces.Box:
        """Every descriptor lies in ``[0, 1]^D``."""
        dim = len(self.descriptor_names)
        return spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)

    def descriptor_bounds(self) -> dict[str, tuple[float, float]]:
        """Each descriptor entry's name -> ``(low, high)`` of :attr:`descriptor_space`."""
        space = self.descriptor_space
        return {
            name: (float(low), float(high))
            for name, low, high in zip(self.descriptor_names, space.low, space.high, strict=True)
        }

    def task(self, task_id: int) -> TaskT:
        """The parameters of numbered task ``task_id`` (a frozen dataclass)."""
        task_id = check_task_id(task_id, self.num_tasks)
        if task_id not in self._tasks:
            generated = self._generate(TaskRng(task_seed(self.key, task_id)))
            self._tasks[task_id] = self._validate(generated)
        return self._tasks[task_id]

    def validate(self, task: Any) -> TaskT:
        """Check explicit task parameters (the dataclass or a dict of its fields) and
        return them as a normalized dataclass; raise ``ValueError``/``TypeError`` naming
        the offending field otherwise."""
        return self._validate(coerce_task(self.task_class, task))

    def resolve(self, task: Any) -> tuple[int | None, TaskT]:
        """``(task_id, parameters)`` of a task id, a :class:`~gym_metatasks.Task` of this
        family or explicit parameters (id ``None``)."""
        if isinstance(task, (int, np.integer)) and not isinstance(task, (bool, np.bool_)):
            return int(task), self.task(int(task))
        if isinstance(task, Task):
            if task.family.key != self.key:
                raise ValueError(f"task belongs to {task.family!r}, not to this family {self!r}")
            return task.task_id, task.params
        if not isinstance(task, self.task_class) and not isinstance(task, Mapping):
            raise TypeError(
                f"task must be a task id (int in [0, {self.num_tasks})), a Task, a "
                f"{self.task_class.__name__} or a dict of its fields, got {task!r}"
            )
        return None, self.validate(task)

    def as_task(self, task: Any) -> Task:
        """The :class:`~gym_metatasks.Task` object of a task id, explicit parameters (the
        dataclass or a dict of its fields) or a Task of this family."""
        return Task(self, *self.resolve(task))

    def descriptor(self, task: Any) -> NDArray[np.float32]:
        """Descriptor of a task id or of explicit parameters: float32, shape ``(D,)``."""
        task_id, params = self.resolve(task)
        if task_id is None:
            return self._descriptor(params)
        if task_id not in self._descriptors:
            self._descriptors[task_id] = self._descriptor(params)
        return self._descriptors[task_id].copy()

    # ------------------------------------------------------------------ oracle
    def optimal_return(self, task: Any, horizon: int | None = None) -> float:
        """Expected undiscounted episode return of an optimal policy (families with
        ``oracle == "exact"``), or the family's documented reference return."""
        _, params = self.resolve(task)
        return self._optimal_return(params, self._horizon(horizon))

    def random_return(self, task: Any, horizon: int | None = None) -> float:
        """Expected undiscounted episode return of the uniformly random policy (exact, or
        measured and stored for reference families)."""
        task_id, params = self.resolve(task)
        return self._random_return(params, self._horizon(horizon), task_id)

    def normalized_return(
        self,
        task: Any,
        episode_return: float | Sequence[float] | NDArray[Any],
        horizon: int | None = None,
    ) -> Any:
        """``(R - R_random) / (R_optimal - R_random)``: 0 is random, 1 is optimal.

        Returns a float for a scalar ``episode_return``, else an array of its shape.
        """
        optimal, random = self.optimal_return(task, horizon), self.random_return(task, horizon)
        if not optimal - random > 1e-12:
            raise ValueError(
                f"normalized_return is undefined for task {task!r}: the optimal return "
                f"{optimal} does not exceed the random return {random}"
            )
        values = (np.asarray(episode_return, dtype=np.float64) - random) / (optimal - random)
        return float(values) if values.ndim == 0 else values

    def policy_return(self, task: Any, policy: Any, horizon: int | None = None) -> float:
        """Expected undiscounted episode return of a deterministic policy under the time
        limit, computed exactly on the task's model (families with ``oracle == "exact"``).

        :param policy: an action per state (``(num_states,)`` ints), or a model with
            ``predict(observations, deterministic=True)`` (SB3's), asked once for the env's
            observation of every state
        :raises NotImplementedError: for families without an exact model (evaluate those
            by sampled episodes)
        """
        raise NotImplementedError(
            f"{self.env_id} has no exact model, so policy_return cannot be computed; "
            "estimate the return from sampled episodes instead"
        )

    def _horizon(self, horizon: int | None) -> int:
        if horizon is None:
            return self.horizon
        return check_int("horizon", horizon, 1, MAX_HORIZON)

    # ------------------------------------------------------------------ environments
    def make(self, task_id: int | None = None, *, task: Any = None, **kwargs: Any) -> gym.Env:
        """``gym.make`` of this family's env for one task (a task id or explicit ``task``)."""
        if task is not None and task_id is not None:
            raise ValueError("pass either task_id or task, not both")
        selector = {"task": task} if task is not None else {"task_id": task_id}
        kwargs.setdefault("max_episode_steps", self.horizon)
        return gym.make(self.env_id, **selector, **self.config, **kwargs)

    def make_vec(
        self,
        task_ids: Iterable[int],
        vectorization_mode: Literal["sync", "async"] = "sync",
        vector_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> gym.vector.VectorEnv:
        """A vector env whose ``i``-th sub-env holds task ``task_ids[i]``.

        :param vectorization_mode: ``"sync"`` (one process) or ``"async"`` (a process per env)
        :param vector_kwargs: passed to ``SyncVectorEnv``/``AsyncVectorEnv``
        :param kwargs: passed to :meth:`make` for every sub-env
        """
        return make_task_vec_env(self, task_ids, vectorization_mode, vector_kwargs, **kwargs)

    def make_sb3_vec_env(self, task_ids: int | Iterable[int], **kwargs: Any) -> Any:
        """A Stable-Baselines3 ``VecEnv`` whose sub-envs hold ``task_ids`` (one id: every
        sub-env; a sequence: sub-env ``i`` holds ``task_ids[i % len(task_ids)]``), each in
        a ``Monitor``, like SB3's ``make_vec_env``; ``set_attr("task_id", k)`` reaches the
        env. Keyword arguments: see :func:`gym_metatasks.sb3_vec.make_sb3_task_vec_env`.

        :raises ImportError: when stable-baselines3 is not installed
        """
        from gym_metatasks.sb3_vec import make_sb3_task_vec_env  # imports SB3

        return make_sb3_task_vec_env(self, task_ids, **kwargs)

    # ------------------------------------------------------------------ helpers
    def task_to_dict(self, task: Any) -> dict[str, Any]:
        """JSON-ready parameters of a task id or explicit task (tuples become lists)."""
        _, params = self.resolve(task)
        return _jsonable(dataclasses.asdict(params))  # type: ignore[call-overload]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _rebuild_family(
    cls: type[TaskFamily[Any]], config: dict[str, Any], horizon: int, env_id: str
) -> TaskFamily[Any]:
    return shared_family(cls, horizon=horizon, env_id=env_id, **config)


#: The shared instance of every family asked for, keyed by itself (families compare by
#: class, configuration, horizon and env_id).
_INSTANCES: dict[TaskFamily[Any], TaskFamily[Any]] = {}


def shared_family(
    cls: type[FamilyT], *, horizon: int | None = None, env_id: str | None = None, **config: Any
) -> FamilyT:
    """The one instance in this process of ``cls(**config, horizon=..., env_id=...)``.

    Calls that describe equal families return the same object, whichever defaults they
    spell out: an env's ``family`` is the object ``gym_metatasks.family(env_id)`` returns,
    and both share one task, split and model cache.
    """
    family = cls(**config, horizon=horizon, env_id=env_id)
    return cast(FamilyT, _INSTANCES.setdefault(family, family))
