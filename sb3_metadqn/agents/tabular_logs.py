"""The log lines a :class:`~sb3_metadqn.TabularQLearning` writes, with the keys SB3's
off-policy algorithms use (``rollout/ep_rew_mean``, ``time/fps``, ...)."""

from __future__ import annotations

import sys
import time
from typing import Any

from stable_baselines3.common.utils import safe_mean


def dump_training_logs(model: Any) -> None:
    """Record and dump the episode statistics, exploration rate, learning rate and fps of
    ``model`` at its current timestep."""
    assert model.ep_info_buffer is not None
    assert model.ep_success_buffer is not None
    time_elapsed = max((time.time_ns() - model.start_time) / 1e9, sys.float_info.epsilon)
    fps = int((model.num_timesteps - model._num_timesteps_at_start) / time_elapsed)
    model.logger.record("time/episodes", model._episode_num, exclude="tensorboard")
    if len(model.ep_info_buffer) > 0 and len(model.ep_info_buffer[0]) > 0:
        model.logger.record(
            "rollout/ep_rew_mean", safe_mean([e["r"] for e in model.ep_info_buffer])
        )
        model.logger.record(
            "rollout/ep_len_mean", safe_mean([e["l"] for e in model.ep_info_buffer])
        )
    if len(model.ep_success_buffer) > 0:
        model.logger.record("rollout/success_rate", safe_mean(model.ep_success_buffer))
    model.logger.record("rollout/exploration_rate", model.exploration_rate)
    model.logger.record("train/learning_rate", model.lr_schedule(model._current_progress_remaining))
    model.logger.record("train/n_updates", model._n_updates, exclude="tensorboard")
    model.logger.record("time/fps", fps)
    model.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
    model.logger.record("time/total_timesteps", model.num_timesteps, exclude="tensorboard")
    model.logger.dump(step=model.num_timesteps)
