"""Draw a new task at every reset."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import gymnasium as gym
import numpy as np

from gym_metatasks.splits import SPLITS
from gym_metatasks.validation import check_int, check_seed, check_task_id

CHECKPOINT_VERSION = 1
_SAMPLER_SALT = 0x7A5C  # keeps the sampler's stream apart from the episode RNG's


class ResampleTask(gym.Wrapper[Any, Any, Any, Any]):
    """At every ``reset``, switch to a task drawn uniformly (with replacement) from a
    split of the family, or from an explicit list of task ids.

    The draw comes from the wrapper's own generator: seeded by ``seed`` and reseeded by
    ``reset(seed=s)`` (from ``s``), so a seeded run draws the same tasks. A reset whose
    options name a task (``"task_id"`` or ``"task"``) uses that task and draws nothing.

    :param env: a gym_metatasks env
    :param split: ``"train"`` (the default), ``"validation"``, ``"test"`` or ``"all"``
    :param task_ids: explicit task ids to draw from, instead of a split
    :param seed: seed of the task sampler
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        split: str | None = None,
        task_ids: Iterable[int] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(env)
        family = getattr(env.unwrapped, "family", None)
        if family is None:
            raise TypeError(
                f"ResampleTask needs a gym_metatasks env (with a task family), got {env}"
            )
        seed = check_seed("seed", seed)
        if task_ids is None:
            split = "train" if split is None else split
            if split not in SPLITS:
                raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
            ids = family.split_task_ids(split)
        elif split is not None:
            raise ValueError(
                f"pass either split or task_ids, not both (got split={split!r} and task_ids)"
            )
        elif isinstance(task_ids, (str, bytes)) or not isinstance(task_ids, Iterable):
            raise TypeError(f"task_ids must be a collection of task ids, got {task_ids!r}")
        else:
            ids = tuple(
                check_task_id(t, family.num_tasks, name=f"task_ids[{i}]")
                for i, t in enumerate(task_ids)
            )
            split = "custom"
        if not ids:
            raise ValueError("ResampleTask needs at least one task id to draw from")
        self.split = split
        self.task_ids: tuple[int, ...] = tuple(ids)
        self._rng = np.random.default_rng(seed)
        self.num_draws = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence([seed, _SAMPLER_SALT]))
        options = dict(options or {})
        if "task_id" not in options and "task" not in options:
            options["task_id"] = self.task_ids[int(self._rng.integers(len(self.task_ids)))]
            self.num_draws += 1
        return self.env.reset(seed=seed, options=options)

    def get_checkpoint(self) -> dict[str, Any]:
        """The sampler's state as JSON-ready data (see :meth:`load_checkpoint`)."""
        return {
            "version": CHECKPOINT_VERSION,
            "split": self.split,
            "num_task_ids": len(self.task_ids),
            "task_ids_hash": _ids_hash(self.task_ids),
            "num_draws": self.num_draws,
            "bit_generator": self._rng.bit_generator.state,
        }

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_checkpoint`; the next draws continue from it.

        Raises ``ValueError`` when the checkpoint belongs to another version or another
        set of task ids.
        """
        if not isinstance(checkpoint, dict):
            raise TypeError(f"checkpoint must be a dict, got {type(checkpoint).__name__}")
        missing = {
            "version",
            "split",
            "num_task_ids",
            "task_ids_hash",
            "num_draws",
            "bit_generator",
        } - set(checkpoint)
        if missing:
            raise ValueError(f"checkpoint is missing key(s) {sorted(missing)}")
        if checkpoint["version"] != CHECKPOINT_VERSION:
            raise ValueError(
                f"checkpoint version must be {CHECKPOINT_VERSION}, got {checkpoint['version']!r}"
            )
        if checkpoint["task_ids_hash"] != _ids_hash(self.task_ids):
            raise ValueError(
                f"checkpoint was taken over other task ids (split {checkpoint['split']!r}, "
                f"{checkpoint['num_task_ids']} ids) than this wrapper's "
                f"(split {self.split!r}, {len(self.task_ids)} ids)"
            )
        # everything is checked before anything changes: a refused checkpoint leaves the
        # sampler as it was
        num_draws = check_int("checkpoint['num_draws']", checkpoint["num_draws"], 0, 2**63 - 1)
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = checkpoint["bit_generator"]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(
                f"checkpoint['bit_generator'] is not a valid {type(rng.bit_generator).__name__} "
                f"state: {error}"
            ) from error
        self._rng, self.num_draws = rng, num_draws


def _ids_hash(task_ids: tuple[int, ...]) -> str:
    import hashlib

    return hashlib.sha256(np.asarray(task_ids, dtype=np.int64).tobytes()).hexdigest()[:16]
