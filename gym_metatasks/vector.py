"""Vector environments holding a different task in each sub-environment."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

import gymnasium as gym

from gym_metatasks.validation import check_task_id


class TaskMaker(Protocol):
    """What a task vector env needs of a family (:class:`~gym_metatasks.TaskFamily` is one)."""

    @property
    def num_tasks(self) -> int: ...

    def make(self, task_id: int | None = None, **kwargs: Any) -> gym.Env[Any, Any]: ...


def make_task_vec_env(
    family: TaskMaker,
    task_ids: Iterable[int],
    vectorization_mode: Literal["sync", "async"] = "sync",
    vector_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> gym.vector.VectorEnv:
    """``SyncVectorEnv``/``AsyncVectorEnv`` whose ``i``-th sub-env holds ``task_ids[i]``.

    Tasks can be changed later with ``envs.set_attr("task_id", [...])`` (effective at each
    sub-env's next reset) or per sub-env with ``reset(options={"task_id": ...})``.
    """
    ids = [
        check_task_id(t, family.num_tasks, name=f"task_ids[{i}]") for i, t in enumerate(task_ids)
    ]
    if not ids:
        raise ValueError("task_ids must name at least one task")
    env_fns = [functools.partial(family.make, task_id, **kwargs) for task_id in ids]
    if vectorization_mode == "sync":
        return gym.vector.SyncVectorEnv(env_fns, **(vector_kwargs or {}))
    if vectorization_mode == "async":
        return gym.vector.AsyncVectorEnv(env_fns, **(vector_kwargs or {}))
    raise ValueError(f"vectorization_mode must be 'sync' or 'async', got {vectorization_mode!r}")


def set_tasks(envs: Any, tasks: Sequence[Any]) -> None:
    """Schedule ``tasks[i]`` (a task id, a :class:`~gym_metatasks.Task`, parameters or a
    dict of them) for sub-env ``i``'s next reset, in a Gymnasium ``VectorEnv`` or a
    Stable-Baselines3 ``VecEnv``, through any wrappers.

    Every task is checked against its sub-env's family before any is set.
    """
    num_envs = getattr(envs, "num_envs", None)
    if not isinstance(envs, gym.vector.VectorEnv) and not callable(
        getattr(envs, "env_method", None)
    ):
        raise TypeError(f"envs must be a Gymnasium VectorEnv or an SB3 VecEnv, got {envs!r}")
    if isinstance(tasks, (str, bytes, Mapping)) or not isinstance(tasks, Sequence):
        raise TypeError(f"tasks must be a sequence with one task per sub-env, got {tasks!r}")
    if len(tasks) != num_envs:
        raise ValueError(f"tasks must hold one task per sub-env ({num_envs}), got {len(tasks)}")
    families = list(envs.get_attr("family"))
    resolved = []
    for i, (family, task) in enumerate(zip(families, tasks, strict=True)):
        try:
            resolved.append(family.as_task(task))
        except (TypeError, ValueError) as error:
            raise type(error)(f"tasks[{i}]: {error}") from None
    if isinstance(envs, gym.vector.VectorEnv):
        envs.set_attr("task", resolved)  # type: ignore[attr-defined]  # Sync/AsyncVectorEnv's
    else:
        for i, task in enumerate(resolved):
            envs.env_method("set_task", task, indices=[i])
