"""Let an assignment of ``task_id`` or ``task`` on the outermost wrapper reach the env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

#: The attributes whose assignment is forwarded to the env's task setters.
FORWARDED_ATTRIBUTES = frozenset({"task_id", "task"})


class ForwardTaskAttributes(gym.Wrapper[Any, Any, Any, Any]):
    """Forward ``wrapper.task_id = k`` and ``wrapper.task = t`` to the gym_metatasks env
    underneath, through every wrapper in between.

    Stable-Baselines3's ``VecEnv.set_attr`` assigns the attribute on each sub-env's outermost
    wrapper; without this wrapper on top, ``set_attr("task_id", k)`` stores ``k`` on that
    wrapper (a ``Monitor``) and the env keeps its task. Here the value goes to the env's
    setter, which checks it at once (a list, a non-int or an out-of-range id is refused) and
    schedules the task for the sub-env's next reset. Reading (``get_attr``) needs no help:
    it already reaches the env.

    :param env: a gym_metatasks env, possibly wrapped
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        if not callable(getattr(env.unwrapped, "set_task", None)):
            raise TypeError(
                f"ForwardTaskAttributes needs a gym_metatasks env (with set_task), got {env}"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in FORWARDED_ATTRIBUTES:
            super().__setattr__(name, value)
            return
        if isinstance(value, (list, np.ndarray)) or (
            name == "task_id" and isinstance(value, tuple)
        ):
            raise one_task_error(name, value)
        self.env.set_wrapper_attr(name, value, force=False)


def one_task_error(name: str, value: Any) -> TypeError:
    """The error for a list given where one sub-env's task is expected."""
    return TypeError(
        f"{name} must be one task for each sub-env, got {value!r}; VecEnv.set_attr gives "
        f"every sub-env the same value: set one sub-env's with set_attr({name!r}, value, "
        "indices=[i]), or each sub-env's with gym_metatasks.set_tasks(vec_env, tasks)"
    )
