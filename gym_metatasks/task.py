"""The task object: one task of a family, numbered or explicit, as a value to pass around
(``family.sample_tasks``, a benchmark's task lists, ``env.unwrapped.get_task()``)."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray


class _Family(Protocol):
    """What a task object needs of its family (:class:`~gym_metatasks.TaskFamily` is one)."""

    env_id: str

    @property
    def key(self) -> str: ...

    def task(self, task_id: int) -> Any: ...

    def validate(self, task: Any) -> Any: ...

    def descriptor(self, task: Any) -> NDArray[np.float32]: ...

    def split_of(self, task_id: int) -> str | None: ...


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Task:
    """A task of ``family``: numbered (``task_id``, with the parameters that id generates)
    or explicit (``task_id=None``, validated parameters).

    Build one with ``family.as_task(task_id_or_parameters)``; every family method that takes
    a task, ``env.unwrapped.set_task``, ``gym.make(env_id, task=...)`` and
    ``reset(options={"task": ...})`` accept it. Numbered tasks keep their id through all of
    them (so oracle returns and splits stay those of the id).

    Two task objects are equal when their families generate the same tasks (the same
    ``family.key``: name, version and configuration; the horizon does not matter) and
    their ids and parameters are equal.

    :param family: the family the task belongs to
    :param task_id: the task's id, or ``None`` for explicit parameters
    :param params: the parameters (the family's frozen task dataclass)
    :raises ValueError: when ``params`` are not the parameters task ``task_id`` generates
    """

    family: _Family
    task_id: int | None
    params: Any

    def __post_init__(self) -> None:
        if self.task_id is None:
            object.__setattr__(self, "params", self.family.validate(self.params))
            return
        expected = self.family.task(self.task_id)
        if self.params != expected:
            raise ValueError(
                f"params must be the parameters of task {self.task_id} of "
                f"{self.family.env_id} ({expected!r}), got {self.params!r}; pass task_id=None "
                "for explicit parameters"
            )
        object.__setattr__(self, "task_id", int(self.task_id))

    @property
    def env_id(self) -> str:
        """The registered id of the task's family (what ``gym.make`` takes)."""
        return self.family.env_id

    @property
    def descriptor(self) -> NDArray[np.float32]:
        """The task descriptor: float32, shape ``(D,)``."""
        return self.family.descriptor(self.params if self.task_id is None else self.task_id)

    @property
    def split(self) -> str | None:
        """``"train"``, ``"validation"`` or ``"test"`` of a numbered task; ``None`` for
        explicit parameters or a task dropped as a duplicate."""
        return None if self.task_id is None else self.family.split_of(self.task_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Task):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple[str, int | None, Any]:
        return self.family.key, self.task_id, self.params

    def __repr__(self) -> str:
        return f"Task(env_id={self.env_id!r}, task_id={self.task_id!r}, params={self.params!r})"
