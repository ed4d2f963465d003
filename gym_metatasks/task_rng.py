"""A random stream for task generation that never changes across NumPy versions.

Task content must be a pure function of ``(family key, task_id)`` on every machine and
for every future NumPy. NumPy guarantees the raw stream of a bit generator (PCG64) and
the mapping of ``Generator.random()`` to doubles, but not the algorithms behind
``integers``, ``choice`` or ``permutation``. :class:`TaskRng` therefore draws only
doubles from ``random()`` and derives everything else from them itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def task_seed(family_key: str, task_id: int) -> np.random.SeedSequence:
    """Seed sequence of one task: a hash of the family key (name, version and config)
    combined with the task id. Independent of Python's randomized ``hash()``."""
    digest = hashlib.sha256(family_key.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence([*words, int(task_id)])


class TaskRng:
    """Deterministic draws built on ``Generator.random()`` alone.

    :param seed: the task's seed sequence (see :func:`task_seed`)
    """

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._generator = np.random.Generator(np.random.PCG64(seed))

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        """A float in ``[low, high)``."""
        return low + (high - low) * float(self._generator.random())

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``, uniform up to a bias of at most ``n / 2**53``."""
        if n <= 0:
            raise ValueError(f"n must be positive, got {n}")
        return min(int(self._generator.random() * n), n - 1)

    def choice(self, items: Sequence[T]) -> T:
        """One element of a non-empty sequence, uniformly."""
        return items[self.below(len(items))]

    def bernoulli(self, p: float) -> bool:
        """True with probability ``p``."""
        return float(self._generator.random()) < p
