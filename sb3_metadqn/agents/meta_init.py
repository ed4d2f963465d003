"""The ``meta_init`` record of a warm-started agent: how its starting point was chosen."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import MaybeCallback


class LogsMetaInit:
    """Mixin for an SB3 algorithm: when ``learn`` starts, the numeric entries of
    ``self.meta_init`` are logged under ``meta_init/``."""

    meta_init: dict[str, Any] | None

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        result: tuple[int, BaseCallback] = super()._setup_learn(  # type: ignore[misc]
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        for key, value in (self.meta_init or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.logger.record(f"meta_init/{key}", value)  # type: ignore[attr-defined]
        return result
