"""Task handling shared by every family's environment: which task is active, switching
tasks at reset, the task descriptor and the ``info`` keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from gym_metatasks.family import TaskFamily
from gym_metatasks.task import Task
from gym_metatasks.validation import check_task_id


class _DefaultTaskId:
    """Marks an omitted ``task_id``: task 0 unless an explicit ``task`` is given."""

    def __repr__(self) -> str:
        return "DEFAULT_TASK_ID"


DEFAULT_TASK_ID: Final = _DefaultTaskId()
TASK_OPTION_KEYS: Final = frozenset({"task_id", "task"})


class MetaTaskEnv(gym.Env[Any, Any]):
    """Mixin for a family's environment; the env calls :meth:`_init_task` in its
    constructor, :meth:`_switch_task_for_reset` at the top of ``reset`` and builds every
    ``info`` with :meth:`_info`. Subclasses apply a task's parameters in
    :meth:`_apply_task`.

    A new task (``set_task``, the ``task_id``/``task`` setters, e.g. through
    ``VectorEnv.set_attr``) takes effect at the next reset; ``reset(options={"task_id": k})``
    switches at that reset.
    """

    family: TaskFamily[Any]
    extra_option_keys: ClassVar[frozenset[str]] = frozenset()
    """``reset`` option keys of the underlying Gymnasium env passed through unchanged."""

    def _init_task(self, family: TaskFamily[Any], task_id: Any, task: Any) -> None:
        self.family = family
        task_id, params = self._select_task(task_id, task)
        self._pending: tuple[int | None, Any] | None = None
        self._activate(task_id, params)

    # ------------------------------------------------------------------ public surface
    @property
    def task_id(self) -> int | None:
        """Id of the active task (``None`` for explicit parameters)."""
        return self._task_id

    @task_id.setter
    def task_id(self, value: int) -> None:
        self._pending = self._select_task(value, None)

    @property
    def task(self) -> Any:
        """Parameters of the active task (a frozen dataclass); assigning a task (any form
        :meth:`set_task` takes) schedules it for the next reset."""
        return self._task

    @task.setter
    def task(self, value: Any) -> None:
        self.set_task(task=value)

    @property
    def task_descriptor(self) -> NDArray[np.float32]:
        """Descriptor of the active task: read-only float32 array, shape ``(D,)``."""
        return self._descriptor

    def set_task(self, task: Any = None, *, task_id: int | None = None) -> None:
        """Schedule a task for the next reset: ``task`` a task id, a
        :class:`~gym_metatasks.Task`, the family's task dataclass or a dict of its fields
        (``set_task(7)``, ``set_task(family.as_task(7))``), or ``task_id=`` an id.

        The input is validated now, so a bad task fails here and not at the next reset.
        """
        if (task_id is None) == (task is None):
            raise ValueError(
                f"set_task needs exactly one of task or task_id, got task={task!r} and "
                f"task_id={task_id!r}"
            )
        self._pending = self._select_task(DEFAULT_TASK_ID if task_id is None else task_id, task)

    def get_task(self) -> Task:
        """The active task as a :class:`~gym_metatasks.Task` (with its id, or ``None`` for
        explicit parameters); ``set_task(env.get_task())`` restores it."""
        return Task(self.family, self._task_id, self._task)

    # ------------------------------------------------------------------ for subclasses
    def _apply_task(self, params: Any) -> None:
        """Make ``params`` the dynamics of this env (called when the task changes)."""
        raise NotImplementedError

    def _switch_task_for_reset(self, options: dict[str, Any] | None) -> dict[str, Any] | None:
        """Activate the task asked for by ``options`` or scheduled by ``set_task``.

        :return: the remaining options, for the underlying Gymnasium env (or ``None``)
        """
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict or None, got {options!r}")
        if not options and self._pending is None:
            return None  # the common case: same task, nothing to pass on
        rest: dict[str, Any] | None = None
        selection: tuple[int | None, Any] | None = None
        if options:
            if "task" in options and options["task"] is None and "task_id" not in options:
                raise ValueError(
                    "options['task'] must be a task (its dataclass or a dict of its fields), "
                    "got None; pass options={'task_id': k} to switch by id"
                )
            allowed = TASK_OPTION_KEYS | self.extra_option_keys
            unknown = sorted(set(options) - allowed)
            if unknown:
                raise ValueError(
                    f"reset options has unknown key(s) {unknown}; allowed: {sorted(allowed)}"
                )
            if "task_id" in options or "task" in options:
                selection = self._select_task(
                    options.get("task_id", DEFAULT_TASK_ID),
                    options.get("task"),
                    name="options['task_id']",
                )
            rest = {k: v for k, v in options.items() if k not in TASK_OPTION_KEYS} or None
        if selection is None:
            selection = self._pending
        self._pending = None
        if selection is not None and (selection[0] != self._task_id or selection[1] != self._task):
            self._activate(*selection)
        return rest

    def _info(self, is_success: bool) -> dict[str, Any]:
        return {
            "task_id": self._task_id,
            "task_descriptor": self._descriptor.copy(),  # a fresh object per call
            "is_success": is_success,
        }

    # ------------------------------------------------------------------ internals
    def _select_task(
        self, task_id: Any, task: Any, *, name: str = "task_id"
    ) -> tuple[int | None, Any]:
        if task is not None:
            if task_id is not DEFAULT_TASK_ID and task_id is not None:
                raise ValueError(
                    f"pass either task_id or task, not both (got task_id={task_id!r} and a task)"
                )
            return self.family.resolve(task)
        if task_id is DEFAULT_TASK_ID:
            task_id = 0
        elif task_id is None:
            raise ValueError(
                f"{name}=None needs explicit parameters: pass task=... or a task_id in "
                f"[0, {self.family.num_tasks})"
            )
        task_id = check_task_id(task_id, self.family.num_tasks, name=name)
        return task_id, self.family.task(task_id)

    def _activate(self, task_id: int | None, params: Any) -> None:
        self._task_id, self._task = task_id, params
        descriptor = self.family.descriptor(params if task_id is None else task_id)
        descriptor.flags.writeable = False
        self._descriptor = descriptor
        self._apply_task(params)
