"""The task an SB3 model's env holds: family, task id and descriptor, read through wrappers
and VecEnvs (every sub-env must hold the same task: one initialization serves one task)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray


def check_sb3_env(env: Any, owner: str) -> None:
    """Refuse a Gymnasium ``VectorEnv``, which SB3 cannot step, naming what to use instead."""
    if isinstance(env, gym.vector.VectorEnv):
        raise TypeError(
            f"{owner} needs a Gymnasium env or a Stable-Baselines3 VecEnv, got a Gymnasium "
            f"{type(env).__name__}, which SB3 cannot step: build the vector env with "
            "family.make_sb3_vec_env(task_ids) (family.make_vec gives Gymnasium's)"
        )


def env_attr(env: Any, name: str) -> list[Any] | None:
    """``name`` of every sub-env of an SB3 VecEnv, or None when the env has none."""
    if env is None:
        return None
    try:
        return list(env.get_attr(name))
    except AttributeError:
        return None


def env_family_key(env: Any) -> str | None:
    """The ``TaskFamily.key`` shared by every sub-env, or None."""
    keys = {getattr(f, "key", None) for f in env_attr(env, "family") or []}
    return keys.pop() if len(keys) == 1 else None


def read_task(env: Any, task_descriptor: Any, owner: str) -> tuple[NDArray[np.float64], int | None]:
    """``(descriptor, task_id)`` of the env's task; ``task_descriptor``, when not None,
    overrides the env's descriptor. ``task_id`` is None when unknown.

    :param owner: the class reading it, named in the errors
    :raises ValueError: when the env exposes no descriptor and none is given, its
        sub-envs hold different tasks, or one reports a task_id it does not hold
    :raises TypeError: when a sub-env reports a task_id that is not an int
    """
    task_ids = env_attr(env, "task_id")
    families = env_attr(env, "family") or []
    if task_ids and any(
        t is not None and (isinstance(t, bool) or not isinstance(t, (int, np.integer)))
        for t in task_ids
    ):
        raise TypeError(f"the env's sub-envs report task_id {task_ids!r}{_SHADOWED}")
    task_id = None
    if task_ids and len(set(task_ids)) == 1 and task_ids[0] is not None:
        task_id = int(task_ids[0])
    if task_descriptor is not None:
        descriptor = np.asarray(task_descriptor, dtype=np.float64)
        space = getattr(families[0], "descriptor_space", None) if families else None
        if space is not None:
            _check_in_space(descriptor, space, families[0])
        return descriptor, task_id
    descriptors = env_attr(env, "task_descriptor")
    if not descriptors:
        raise ValueError(
            "the env exposes no task_descriptor (use a gym_metatasks env or pass "
            f"task_descriptor= to {owner})"
        )
    first = np.asarray(descriptors[0], dtype=np.float64)
    for k, other in enumerate(descriptors[1:], start=1):
        if np.shape(other) != first.shape or not np.array_equal(other, first):
            raise ValueError(
                f"all sub-envs must hold the same task: sub-env {k} has task "
                f"{task_ids[k] if task_ids else '?'} and sub-env 0 has task "
                f"{task_ids[0] if task_ids else '?'} ({owner} initializes one model for one task)"
            )
    if task_ids and families and hasattr(families[0], "descriptor"):
        for k, (reported, held) in enumerate(zip(task_ids, descriptors, strict=True)):
            if reported is not None and not _holds(families[k], int(reported), held):
                raise ValueError(
                    f"sub-env {k} reports task_id {reported} but holds another task{_SHADOWED}"
                )
    return first, task_id


def _holds(family: Any, task_id: int, descriptor: Any) -> bool:
    """Whether ``descriptor`` is that of task ``task_id`` of ``family``."""
    try:
        return bool(np.array_equal(family.descriptor(task_id), descriptor))
    except (TypeError, ValueError):  # not a task id of the family
        return False


_SHADOWED = (
    ": that task_id was stored on a wrapper and never reached the env (SB3's VecEnv.set_attr "
    "assigns on each sub-env's outermost wrapper, a Monitor). Switch tasks with "
    "env_method('set_task', k) or gym_metatasks.set_tasks(vec_env, tasks), or build the env "
    "with family.make_sb3_vec_env, whose set_attr reaches the env"
)


def _check_in_space(descriptor: NDArray[np.float64], space: Any, family: Any) -> None:
    """Refuse a descriptor that no task of the env's family has (a typo such as 1e6 would
    otherwise pick a source as if it were a task); its shape and finiteness are the
    initializer's to check."""
    values = descriptor.astype(np.float32)
    if values.shape != space.shape or not np.all(np.isfinite(values)):
        return
    outside = ~((values >= space.low) & (values <= space.high))
    if np.any(outside):
        k = int(np.argmax(outside))
        raise ValueError(
            f"task_descriptor must lie in the descriptor_space of {family.env_id}: entry {k} "
            f"must be in [{float(space.low[k]):g}, {float(space.high[k]):g}], got "
            f"{float(descriptor[k]):g}"
        )
