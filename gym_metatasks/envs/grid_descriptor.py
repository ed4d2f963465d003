"""The layout of a grid task's descriptor, for the grid families that write it and for
models that read it.

A ``size x size`` grid task is described by ``5 + size * size`` float32 values in
``[0, 1]``:

| Index | Content |
|-------|---------|
| 0, 1 | start row, start column, each divided by ``size - 1`` |
| 2, 3 | goal row, goal column, each divided by ``size - 1`` |
| 4 | the family's scalar (MetaNav: ``slip``, MetaFrozenLake: ``success_rate``) |
| 5 + ``row * size + col`` | 1 if the cell is marked (a wall or a hole), else 0 |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

Cell = tuple[int, int]


@dataclass(frozen=True)
class GridDescriptorFields:
    """A grid descriptor read back into cells (see :meth:`GridDescriptorLayout.decode`)."""

    start: Cell
    goal: Cell
    scalar: float
    cells: tuple[Cell, ...]
    """The marked cells, in row-major order."""


@dataclass(frozen=True)
class GridDescriptorLayout:
    """Where each field sits in the descriptor of a ``size x size`` grid task.

    The slices and the index select along the last axis, so they apply to one descriptor
    ``(D,)`` and to a batch ``(N, D)``, of NumPy arrays or torch tensors alike:
    ``descriptor[..., layout.cells]``.

    :param size: side length of the grid
    """

    size: int
    head_size: ClassVar[int] = 5
    """Entries before the cell mask: start (2), goal (2), the scalar (1)."""
    start: ClassVar[slice] = slice(0, 2)
    goal: ClassVar[slice] = slice(2, 4)
    scalar: ClassVar[int] = 4

    def __post_init__(self) -> None:
        if (
            isinstance(self.size, bool)
            or not isinstance(self.size, (int, np.integer))
            or self.size < 2
        ):
            raise ValueError(f"size must be an int >= 2, got {self.size!r}")

    @property
    def dim(self) -> int:
        """Length of the descriptor, ``5 + size * size``."""
        return self.head_size + self.size * self.size

    @property
    def cells(self) -> slice:
        """The cell mask, ``size * size`` entries in row-major order (``row * size + col``)."""
        return slice(self.head_size, self.dim)

    @property
    def coordinate_scale(self) -> int:
        """Rows and columns are stored divided by this (``size - 1``)."""
        return self.size - 1

    def names(self, scalar_name: str, cell_name: str) -> tuple[str, ...]:
        """One name per entry: ``start_row``, ..., ``scalar_name``, ``{cell_name}_r0_c0``, ..."""
        cells = (f"{cell_name}_r{r}_c{c}" for r in range(self.size) for c in range(self.size))
        return ("start_row", "start_col", "goal_row", "goal_col", scalar_name, *cells)

    def encode(
        self, start: Cell, goal: Cell, scalar: float, cells: Iterable[Cell]
    ) -> NDArray[np.float32]:
        """The descriptor of a task: float32, shape ``(dim,)``."""
        head = np.array([start[0], start[1], goal[0], goal[1]], dtype=np.float32)
        mask = np.zeros(self.size * self.size, dtype=np.float32)
        for row, col in cells:
            mask[row * self.size + col] = 1.0
        return np.concatenate(
            [head / float(self.coordinate_scale), np.array([scalar], np.float32), mask]
        ).astype(np.float32)

    def decode(self, descriptor: NDArray[np.floating]) -> GridDescriptorFields:
        """Start, goal, scalar and marked cells of one descriptor, shape ``(dim,)``."""
        values = np.asarray(descriptor, dtype=np.float64)
        if values.shape != (self.dim,):
            raise ValueError(
                f"descriptor must have shape ({self.dim},) for a {self.size}x{self.size} grid, "
                f"got {values.shape}"
            )
        start = np.rint(values[self.start] * self.coordinate_scale).astype(int)
        goal = np.rint(values[self.goal] * self.coordinate_scale).astype(int)
        marked = np.flatnonzero(values[self.cells] > 0.5)
        return GridDescriptorFields(
            start=(int(start[0]), int(start[1])),
            goal=(int(goal[0]), int(goal[1])),
            scalar=float(values[self.scalar]),
            cells=tuple((int(i) // self.size, int(i) % self.size) for i in marked),
        )
