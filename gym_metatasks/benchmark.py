"""A family as a benchmark in the Meta-World ML1 style: its splits as lists of task objects
and an env factory to run them in."""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym

from gym_metatasks.family import TaskFamily
from gym_metatasks.registration import family as family_of
from gym_metatasks.splits import Split
from gym_metatasks.task import Task


class Benchmark:
    """The train, validation and test tasks of one family as
    :class:`~gym_metatasks.Task` objects, with ``train_classes``/``test_classes`` mapping
    the family's env id to a factory of its envs, as Meta-World's ML1 does::

        bench = gym_metatasks.benchmark("MetaNav-v0")
        env = bench.train_classes["MetaNav-v0"]()
        env.unwrapped.set_task(bench.train_tasks[0])  # active from the next reset
        obs, info = env.reset(seed=0)

    Meta-train on ``train_tasks``, choose settings on ``validation_tasks`` and report on
    ``test_tasks``; the three are disjoint by content.

    :param family: a family object or a registered id (``"MetaNav-v0"``)
    """

    def __init__(self, family: TaskFamily[Any] | str) -> None:
        if isinstance(family, str):
            family = family_of(family)
        if not isinstance(family, TaskFamily):
            raise TypeError(f"family must be a TaskFamily or a registered env id, got {family!r}")
        self.family: TaskFamily[Any] = family

    @property
    def env_id(self) -> str:
        """The family's registered id, the key of ``train_classes`` and ``test_classes``."""
        return self.family.env_id

    def tasks(self, split: Split) -> tuple[Task, ...]:
        """The tasks of ``split`` (``"train"``, ``"validation"``, ``"test"`` or ``"all"``),
        in task id order."""
        return tuple(self.family.as_task(i) for i in self.family.split_task_ids(split))

    @functools.cached_property
    def train_tasks(self) -> tuple[Task, ...]:
        """The train split: what meta-training draws from."""
        return self.tasks("train")

    @functools.cached_property
    def validation_tasks(self) -> tuple[Task, ...]:
        """The validation split: where settings are chosen."""
        return self.tasks("validation")

    @functools.cached_property
    def test_tasks(self) -> tuple[Task, ...]:
        """The test split: held out for evaluation."""
        return self.tasks("test")

    @property
    def train_classes(self) -> dict[str, Any]:
        """``{env_id: make_env}``: the factory of the envs the train tasks run in."""
        return {self.env_id: self.make_env}

    @property
    def test_classes(self) -> dict[str, Any]:
        """``{env_id: make_env}``: the same factory (one family serves every split)."""
        return {self.env_id: self.make_env}

    def make_env(self, task: Any = None, **kwargs: Any) -> gym.Env[Any, Any]:
        """``gym.make`` of the family's env holding ``task`` (a Task, a task id or
        parameters; default: task 0, to be replaced with ``env.unwrapped.set_task``).

        :param kwargs: passed to ``gym.make`` (e.g. ``render_mode``)
        """
        if task is None:
            return self.family.make(0, **kwargs)
        return self.family.make(task=self.family.as_task(task), **kwargs)

    def __repr__(self) -> str:
        return f"Benchmark({self.env_id!r})"


def benchmark(env_id: str, **config: Any) -> Benchmark:
    """The :class:`Benchmark` of a registered family id (``"MetaNav-v0"``), with the same
    configuration overrides ``gym_metatasks.family`` takes."""
    return Benchmark(family_of(env_id, **config))
