"""Rendering of grid tasks: text (``ansi``) and images (``rgb_array``) in plain NumPy, and
an optional pygame window (``human``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FREE, BLOCKED, GOAL, START = 0, 1, 2, 3
"""Cell codes of a layout: free cell, wall or hole, goal, start."""

CELL_PIXELS = 32


def render_ansi(layout: NDArray[np.int8], agent: int, symbols: str, last_action: str) -> str:
    """Rows of ``symbols[code]`` with the agent drawn as ``A``; ``symbols`` maps the four
    cell codes (free, blocked, goal, start) to characters."""
    size = layout.shape[0]
    rows = []
    for r in range(size):
        row = [symbols[int(layout[r, c])] for c in range(size)]
        if agent // size == r:
            row[agent % size] = "A"
        rows.append("".join(row))
    header = f"  ({last_action})\n" if last_action else ""
    return header + "\n".join(rows) + "\n"


def render_rgb(
    layout: NDArray[np.int8], agent: int, palette: NDArray[np.uint8], cell: int = CELL_PIXELS
) -> NDArray[np.uint8]:
    """An ``(size * cell, size * cell, 3)`` uint8 image: cells coloured by ``palette[code]``
    (shape ``(4, 3)``), thin grid lines, and the agent as a red disc."""
    size = layout.shape[0]
    image = np.repeat(np.repeat(palette[layout], cell, axis=0), cell, axis=1)
    image[::cell, :, :] = 40
    image[:, ::cell, :] = 40
    row, col = divmod(agent, size)
    ys, xs = np.ogrid[:cell, :cell]
    centre, radius = (cell - 1) / 2.0, cell * 0.32
    disc = (ys - centre) ** 2 + (xs - centre) ** 2 <= radius**2
    patch = image[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell]
    patch[disc] = (220, 40, 40)
    return np.ascontiguousarray(image)


class HumanWindow:
    """A pygame window showing ``rgb_array`` frames at ``fps`` frames per second."""

    def __init__(self, title: str, fps: int) -> None:
        try:
            import pygame
        except ImportError as error:  # pragma: no cover - depends on the installation
            raise ImportError(
                'render_mode="human" needs pygame: pip install "sb3-metadqn[human]"'
            ) from error
        self._pygame: Any = pygame
        self._title, self._fps = title, fps
        self._screen: Any = None
        self._clock: Any = None

    def show(self, frame: NDArray[np.uint8]) -> None:
        pygame = self._pygame
        if self._screen is None:
            pygame.init()
            pygame.display.init()
            pygame.display.set_caption(self._title)
            self._screen = pygame.display.set_mode((frame.shape[1], frame.shape[0]))
            self._clock = pygame.time.Clock()
        surface = pygame.surfarray.make_surface(np.transpose(frame, (1, 0, 2)))
        self._screen.blit(surface, (0, 0))
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self._fps)

    def close(self) -> None:
        if self._screen is not None:
            self._pygame.display.quit()
            self._pygame.quit()
            self._screen = None
