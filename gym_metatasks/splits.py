"""Fixed train/validation/test splits of a family's task ids, and sampling from them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from gym_metatasks.task import Task
from gym_metatasks.validation import (
    MAX_SAMPLE_SIZE,
    check_bool,
    check_int,
    check_seed,
    check_task_id,
)

Split = Literal["train", "validation", "test", "all"]
SPLITS: tuple[str, ...] = ("train", "validation", "test", "all")
#: Share of the train range (``[0, num_train_range)``) held out as the validation split.
VALIDATION_FRACTION = 0.1


class TaskSplits:
    """The split part of :class:`~gym_metatasks.TaskFamily`: after dropping every task whose
    descriptor repeats an earlier task's, ids ``[0, num_train_range)`` form the train range
    (its last 10% the validation split, the rest the train split) and the others the test
    split."""

    num_tasks: ClassVar[int]
    num_train_range: ClassVar[int]

    if TYPE_CHECKING:

        def descriptor(self, task: Any) -> NDArray[np.float32]: ...

        def as_task(self, task: Any) -> Task: ...

    @functools.cached_property
    def _splits(self) -> dict[str, tuple[int, ...]]:
        seen: set[bytes] = set()
        train_range: list[int] = []
        test: list[int] = []
        for task_id in range(self.num_tasks):
            digest = self.descriptor(task_id).tobytes()
            if digest in seen:
                continue
            seen.add(digest)
            (train_range if task_id < self.num_train_range else test).append(task_id)
        cut = len(train_range) - int(len(train_range) * VALIDATION_FRACTION)
        return {
            "train": tuple(train_range[:cut]),
            "validation": tuple(train_range[cut:]),
            "test": tuple(test),
            "all": tuple(train_range + test),
        }

    @property
    def train_task_ids(self) -> tuple[int, ...]:
        """Task ids used for (meta-)training, unique by descriptor."""
        return self._splits["train"]

    @property
    def validation_task_ids(self) -> tuple[int, ...]:
        """Task ids where settings are chosen: the last 10% of the train range, left out of
        (meta-)training by default and disjoint from the train and test splits."""
        return self._splits["validation"]

    @property
    def test_task_ids(self) -> tuple[int, ...]:
        """Held-out task ids, unique by descriptor and disjoint from the train split."""
        return self._splits["test"]

    def split_task_ids(self, split: Split) -> tuple[int, ...]:
        """Task ids of ``split`` (``"train"``, ``"validation"``, ``"test"`` or ``"all"``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self._splits[split]

    def split_of(self, task_id: int) -> str | None:
        """``"train"``, ``"validation"``, ``"test"``, or ``None`` for a task dropped as a
        duplicate."""
        task_id = check_task_id(task_id, self.num_tasks)
        for split in ("train", "validation", "test"):
            if task_id in self._split_sets[split]:
                return split
        return None

    @functools.cached_property
    def _split_sets(self) -> dict[str, frozenset[int]]:
        return {name: frozenset(ids) for name, ids in self._splits.items()}

    def sample_task_ids(
        self,
        n: int,
        split: Split = "train",
        rng: int | np.random.Generator | None = None,
        replace: bool = False,
    ) -> NDArray[np.int64]:
        """Draw ``n`` task ids from ``split``.

        :param rng: a seed or a Generator (``None``: fresh OS entropy, not reproducible)
        :param replace: draw with replacement
        """
        ids = self.split_task_ids(split)
        n = check_int("n", n, 0, MAX_SAMPLE_SIZE)
        replace = check_bool("replace", replace)
        rng = check_seed("rng", rng, generator=True)
        if not replace and n > len(ids):
            raise ValueError(
                f"n={n} exceeds the {len(ids)} tasks of the {split!r} split; "
                "pass replace=True or ask for fewer"
            )
        generator = np.random.default_rng(rng)
        return np.asarray(
            generator.choice(np.asarray(ids, dtype=np.int64), size=n, replace=replace)
        )

    def sample_tasks(
        self,
        n: int,
        split: Split = "train",
        rng: int | np.random.Generator | None = None,
        replace: bool = False,
    ) -> list[Task]:
        """Draw ``n`` tasks from ``split`` as :class:`~gym_metatasks.Task` objects (the
        same draw as :meth:`sample_task_ids` with the same arguments)."""
        return [self.as_task(int(i)) for i in self.sample_task_ids(n, split, rng, replace)]
