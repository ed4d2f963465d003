"""Stable-Baselines3 vector envs holding a task per sub-env. This module imports SB3, so
gym_metatasks imports it only when such an env is built (``family.make_sb3_vec_env``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from typing import Any

import gymnasium as gym
import numpy as np

try:
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper
    from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices
except ImportError as error:
    raise ImportError(
        "family.make_sb3_vec_env (gym_metatasks.sb3_vec) needs stable-baselines3: "
        'pip install stable-baselines3 (or "sb3-metadqn", which depends on it)'
    ) from error

from gym_metatasks.task import Task
from gym_metatasks.validation import check_int, check_seed, check_task_id
from gym_metatasks.vector import TaskMaker
from gym_metatasks.wrappers.forward_task_attributes import (
    FORWARDED_ATTRIBUTES,
    ForwardTaskAttributes,
    one_task_error,
)

#: The most sub-envs one call builds.
MAX_ENVS = 1024


def make_sb3_task_vec_env(
    family: TaskMaker,
    task_ids: int | Iterable[int],
    n_envs: int | None = None,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_class: Callable[..., gym.Env[Any, Any]] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
) -> Any:
    """A :class:`TaskVecEnv` over an SB3 ``VecEnv`` (``DummyVecEnv`` by default) whose
    sub-env ``i`` holds task ``task_ids[i % len(task_ids)]``, or every sub-env task
    ``task_ids`` when it is one id.

    The arguments after ``task_ids`` are those of SB3's ``make_vec_env``, with the same
    meaning: each sub-env is ``family.make(task_id, **env_kwargs)`` (``render_mode=
    "rgb_array"`` unless ``env_kwargs`` says otherwise and the env has it), its action
    space seeded with ``seed + rank``, in a ``Monitor`` (writing ``monitor_dir/rank``
    when given), then in ``wrapper_class``, then in
    :class:`~gym_metatasks.wrappers.ForwardTaskAttributes`.

    :param n_envs: number of sub-envs (default: 1 for one id, else ``len(task_ids)``; at
        least ``len(task_ids)``)
    :param vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``
    """
    ids = _task_ids(task_ids, family.num_tasks)
    if n_envs is None:
        n_envs = len(ids)
    n_envs = check_int("n_envs", n_envs, len(ids), MAX_ENVS)
    seed = check_seed("seed", seed)
    start_index = check_int("start_index", start_index, 0, 2**31 - 1)
    env_kwargs = dict(_check_dict("env_kwargs", env_kwargs))
    clash = sorted({"task_id", "task"} & set(env_kwargs))
    if clash:
        raise ValueError(f"env_kwargs must not set {clash}: the tasks are task_ids")
    env_kwargs.setdefault("render_mode", _default_render_mode(family))
    env_fns = [
        functools.partial(
            _make_env,
            family,
            ids[i % len(ids)],
            rank=start_index + i,
            seed=seed,
            monitor_dir=monitor_dir,
            wrapper_class=wrapper_class,
            env_kwargs=env_kwargs,
            monitor_kwargs=_check_dict("monitor_kwargs", monitor_kwargs),
            wrapper_kwargs=_check_dict("wrapper_kwargs", wrapper_kwargs),
        )
        for i in range(n_envs)
    ]
    vec_env = (vec_env_cls or DummyVecEnv)(env_fns, **_check_dict("vec_env_kwargs", vec_env_kwargs))
    vec_env.seed(seed)  # the seeds of the first reset, as make_vec_env sets them
    return TaskVecEnv(vec_env)


class TaskVecEnv(VecEnvWrapper):
    """An SB3 ``VecEnv`` of gym_metatasks envs whose tasks can be set in either SB3 way:
    ``set_attr("task_id", k)``, ``set_attr("task", t)`` or ``env_method("set_task", t)``
    (``indices=`` for some sub-envs). Each value is checked against the sub-env's family
    here, in this process, before anything is sent (so a bad one neither reaches nor ends
    a ``SubprocVecEnv`` worker); the task takes effect at the sub-env's next reset.

    :param venv: a VecEnv whose sub-envs are gym_metatasks envs
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.families: list[Any] = list(venv.get_attr("family"))

    def reset(self) -> Any:
        return self.venv.reset()

    def step_wait(self) -> Any:
        return self.venv.step_wait()

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        if attr_name not in FORWARDED_ATTRIBUTES:
            self.venv.set_attr(attr_name, value, indices)
            return
        if isinstance(value, (list, np.ndarray)) or (
            attr_name == "task_id" and isinstance(value, tuple)
        ):
            raise one_task_error(attr_name, value)
        self._set_tasks(self._get_indices(indices), value, by_id=attr_name == "task_id")

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        if method_name != "set_task":
            return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)
        if len(method_args) + len(method_kwargs) != 1 or not set(method_kwargs) <= {
            "task",
            "task_id",
        }:
            raise TypeError(
                "set_task takes one task: env_method('set_task', task) or "
                f"env_method('set_task', task_id=k), got args {method_args!r} and kwargs "
                f"{method_kwargs!r}"
            )
        value = method_args[0] if method_args else next(iter(method_kwargs.values()))
        targets = list(self._get_indices(indices))
        self._set_tasks(targets, value, by_id="task_id" in method_kwargs)
        return [None] * len(targets)

    def _set_tasks(self, indices: Iterable[int], value: Any, *, by_id: bool) -> None:
        tasks: list[tuple[int, Task]] = []
        for i in indices:
            family = self.families[i]
            if by_id:
                value = check_task_id(value, family.num_tasks)
            tasks.append((i, family.as_task(value)))
        for i, task in tasks:
            self.venv.env_method("set_task", task, indices=[i])


def _make_env(
    family: TaskMaker,
    task_id: int,
    *,
    rank: int,
    seed: int | None,
    monitor_dir: str | None,
    wrapper_class: Callable[..., gym.Env[Any, Any]] | None,
    env_kwargs: dict[str, Any],
    monitor_kwargs: dict[str, Any],
    wrapper_kwargs: dict[str, Any],
) -> gym.Env[Any, Any]:
    env = family.make(task_id, **env_kwargs)
    if seed is not None:
        env.action_space.seed(seed + rank)
    monitor_path = None
    if monitor_dir is not None:
        os.makedirs(monitor_dir, exist_ok=True)
        monitor_path = os.path.join(monitor_dir, str(rank))
    env = Monitor(env, filename=monitor_path, **monitor_kwargs)
    if wrapper_class is not None:
        env = wrapper_class(env, **wrapper_kwargs)
    return ForwardTaskAttributes(env)


def _task_ids(task_ids: Any, num_tasks: int) -> list[int]:
    if isinstance(task_ids, (str, bytes)) or not (
        isinstance(task_ids, Iterable) or hasattr(task_ids, "__index__")
    ):
        raise TypeError(
            f"task_ids must be a task id or a sequence of them (ints in [0, {num_tasks})), "
            f"got {task_ids!r}"
        )
    if not isinstance(task_ids, Iterable):
        return [check_task_id(task_ids, num_tasks, name="task_ids")]
    ids = [check_task_id(t, num_tasks, name=f"task_ids[{i}]") for i, t in enumerate(task_ids)]
    if not ids:
        raise ValueError("task_ids must name at least one task")
    return ids


def _check_dict(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or None, got {value!r}")
    return value


def _default_render_mode(family: TaskMaker) -> str | None:
    env_id = getattr(family, "env_id", None)
    if env_id is None:
        return None
    entry_point = gym.spec(env_id).entry_point
    creator: Any = entry_point
    if isinstance(entry_point, str):
        creator = gym.envs.registration.load_env_creator(entry_point)
    modes = getattr(creator, "metadata", {}).get("render_modes", [])
    return "rgb_array" if "rgb_array" in modes else None
