"""Progress of long jobs: one named tqdm bar per phase, on stderr, shown only when asked.

Library calls take ``progress_bar: bool = False`` as SB3's ``learn`` does; with it off (and
``verbose=0``) they print nothing. The ``metadqn`` commands turn bars on when stderr is a
terminal and the ``CI`` environment variable is unset (:func:`bars_by_default`);
``--progress`` and ``--no-progress`` decide otherwise.

>>> with Progress(enabled=False).phase("sources", total=3, unit="source") as bar:
...     bar.update(3)  # silent
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm


def bars_by_default() -> bool:
    """Whether a command shows progress when neither ``--progress`` nor ``--no-progress``
    is given: when stderr is a terminal and ``CI`` is unset or empty."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty()) and not os.environ.get("CI")


class Progress:
    """The bars of one job: :meth:`phase` opens a named bar; all are no-ops when disabled.

    :param enabled: show the bars (on ``sys.stderr``)
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)

    @contextmanager
    def phase(
        self,
        name: str,
        total: int | None,
        *,
        unit: str = "it",
        initial: int = 0,
        leave: bool = True,
    ) -> Iterator[tqdm[Any]]:
        """A bar named ``name`` counting ``total`` ``unit``s (from ``initial`` when a job
        resumes), closed when the block ends (and then cleared unless ``leave``)."""
        bar: tqdm[Any] = tqdm(
            total=total,
            initial=initial,
            desc=name,
            unit=unit,
            disable=not self.enabled,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=leave,
        )
        try:
            yield bar
        finally:
            bar.close()

    def write(self, text: str) -> None:
        """Print a line on stdout without breaking an open bar."""
        if self.enabled:
            tqdm.write(text, file=sys.stdout)
        else:
            print(text)


class StepsCallback(BaseCallback):
    """Advance ``bar`` by every env step of SB3's ``learn`` (one per sub-env)."""

    def __init__(self, bar: tqdm[Any]) -> None:
        super().__init__()
        self.bar = bar

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True
