"""Pretraining of the task-conditioned DQN on rewards: one :class:`TaskConditionedDQN` on
many train-split tasks at once (a new task at every reset), checkpointed and resumable."""

from __future__ import annotations

import functools
import inspect
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from stable_baselines3.common.buffers import DictReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import gym_metatasks
from gym_metatasks.splits import Split
from gym_metatasks.wrappers import ObserveDescriptor, ResampleTask
from sb3_metadqn._checks import check_args
from sb3_metadqn.agents.task_conditioned import (
    NOT_TASK_CONDITIONED,
    TaskConditionedDQN,
    jsonable,
)
from sb3_metadqn.agents.warm_start import WarmStartDQN
from sb3_metadqn.io.checkpoints import (
    Checkpoint,
    PeriodicCheckpoint,
    load_optimizer_state,
    optimizer_state,
)
from sb3_metadqn.progress import Progress, StepsCallback

CHECKPOINT_KIND = "task-conditioned-dqn-checkpoint"
STATE_NAME = "state"
DEFAULT_PRETRAIN_TIMESTEPS = 200_000
#: What :func:`pretrain` passes to :class:`TaskConditionedDQN` unless ``dqn_kwargs`` says
#: otherwise (measured on MetaNav-v0, see :func:`pretrain`).
PRETRAIN_DQN_KWARGS: dict[str, Any] = {
    "gamma": 0.95,
    "exploration_fraction": 0.5,
    "exploration_final_eps": 0.1,
}
#: DQN arguments :func:`pretrain` does not take through ``dqn_kwargs``.
_RESERVED = ("policy", "env", "seed", "policy_kwargs", "verbose", "_init_setup_model", "pretrained")
_CONFIG_ATTRIBUTES = (
    "learning_rate",
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "train_freq",
    "gradient_steps",
    "target_update_interval",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_grad_norm",
    "n_steps",
)


def pretrain(
    env_id: str,
    total_timesteps: int = DEFAULT_PRETRAIN_TIMESTEPS,
    *,
    seed: int = 0,
    split: str = "train",
    task_ids: Sequence[int] | None = None,
    n_envs: int = 1,
    dqn_kwargs: dict[str, Any] | None = None,
    policy_kwargs: dict[str, Any] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_freq: int = 50_000,
    progress_bar: bool = False,
    verbose: int = 0,
) -> TaskConditionedDQN:
    """Multi-task DQN: one :class:`TaskConditionedDQN` on tasks of ``env_id`` drawn anew at
    every reset (``ResampleTask(family.make(...), split, seed=seed + i)`` per sub-env).

    Unless ``dqn_kwargs`` sets them, ``gamma=0.95``, ``exploration_fraction=0.5`` and
    ``exploration_final_eps=0.1`` (:data:`PRETRAIN_DQN_KWARGS`), on top of the
    :class:`TaskConditionedDQN` defaults. These and the 200,000-step default were first
    measured on MetaNav-v0 test tasks, before the validation split existed; the benchmarks
    README ("Settings and where they were chosen") gives their re-check on validation tasks.

    :param env_id: a registered gym_metatasks family id
    :param total_timesteps: env steps (default 200,000)
    :param seed: seed of the model, the envs and the task samplers
    :param split: the split tasks are drawn from (``"train"``; held-out evaluation needs it)
    :param task_ids: draw from these train-split task ids instead of the whole split
    :param n_envs: sub-envs stepped together (a ``DummyVecEnv``)
    :param dqn_kwargs: :class:`TaskConditionedDQN` arguments (learning rate, buffer, ...)
    :param policy_kwargs: merged over the default ``policy_kwargs``
    :param checkpoint_dir: write a checkpoint (weights, optimizer, counters, replay buffer,
        task samplers; safetensors + JSON, atomic) every ``checkpoint_freq`` steps and at the
        end; a rerun with the same arguments resumes from it (not bit-identical: the envs
        start new episodes)
    :param checkpoint_freq: env steps between checkpoints
    :param progress_bar: show a bar of env steps on stderr (``task-conditioned pretraining``)
    :param verbose: SB3 verbosity
    :return: the trained model; ``model.pretraining`` records env id, family key, timesteps,
        seed, tasks, configuration and cost (``core_seconds``: process CPU time)
    :raises ValueError: for test-split task ids, unknown ``dqn_kwargs``, or a
        ``checkpoint_dir`` that holds another configuration
    """
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    family = gym_metatasks.family(env_id)
    check_args(
        {
            "total_timesteps": total_timesteps,
            "n_envs": n_envs,
            "checkpoint_freq": checkpoint_freq,
            "seed": seed,
            "verbose": verbose,
        }
    )
    ids: list[int] | None = None
    if task_ids is not None:
        if split != "train":
            raise ValueError(f"pass either task_ids or split (got split={split!r} and task_ids)")
        ids = [int(t) for t in task_ids]
        outside = [
            t
            for t in ids
            if not 0 <= t < family.num_tasks or family.split_of(t) not in ("train", "validation")
        ]
        if outside:
            raise ValueError(
                f"task_ids {outside} are not in the train split of {env_id} (or the validation "
                "split, named explicitly); test-split or duplicate tasks would leak into "
                "pretraining; use family.train_task_ids"
            )
        if not ids:
            raise ValueError("task_ids is empty")
    elif split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    kwargs = {**PRETRAIN_DQN_KWARGS, **(dqn_kwargs or {})}
    accepted = set(inspect.signature(WarmStartDQN.__init__).parameters) - {
        "self", *NOT_TASK_CONDITIONED,
    }  # fmt: skip
    unknown = sorted(set(kwargs) - (accepted - set(_RESERVED)))
    if unknown:
        raise ValueError(
            f"dqn_kwargs has unknown or reserved key(s) {unknown}; seed, verbose and "
            "policy_kwargs are pretrain() arguments"
        )
    config = {
        "env_id": env_id,
        "family_key": family.key,
        "total_timesteps": int(total_timesteps),
        "seed": int(seed),
        "split": "custom" if ids is not None else split,
        "task_ids": ids,
        "n_envs": int(n_envs),
        "dqn_kwargs": jsonable(kwargs),
        "policy_kwargs": jsonable(policy_kwargs or {}),
    }
    checkpoint = Checkpoint(
        None if checkpoint_dir is None else pathlib.Path(checkpoint_dir), config
    )

    first_task = ids[0] if ids is not None else family.split_task_ids(cast(Split, split))[0]

    def make(index: int) -> Any:
        env = ResampleTask(
            family.make(first_task),
            split=None if ids is not None else split,
            task_ids=ids,
            seed=seed + index,
        )
        return Monitor(ObserveDescriptor(env, mode="dict"))

    venv = DummyVecEnv([functools.partial(make, i) for i in range(n_envs)])
    model = TaskConditionedDQN(
        "MultiInputPolicy",
        venv,
        seed=seed,
        verbose=verbose,
        policy_kwargs=policy_kwargs,
        **kwargs,
    )
    prior_cpu, prior_wall, resumed_at = 0.0, 0.0, list[int]()
    state = checkpoint.load(STATE_NAME, kind=CHECKPOINT_KIND)
    if state is not None:
        prior_cpu, prior_wall, resumed_at = restore_state(model, *state)
        if model.num_timesteps < total_timesteps:
            resumed_at = [*resumed_at, int(model.num_timesteps)]

    def record() -> dict[str, Any]:
        wall = prior_wall + time.perf_counter() - start_wall
        return {
            **{k: config[k] for k in ("env_id", "family_key", "seed", "split", "task_ids")},
            "timesteps": int(model.num_timesteps),
            "n_envs": int(n_envs),
            "config": {
                **{k: jsonable(getattr(model, k)) for k in _CONFIG_ATTRIBUTES},
                "policy": model.policy_config(),
            },
            "core_seconds": prior_cpu + time.process_time() - start_cpu,
            "wall_seconds": wall,
            "resumed_at": resumed_at,
        }

    callbacks: list[BaseCallback] = []
    if checkpoint.directory is not None:
        callbacks.append(
            PeriodicCheckpoint(lambda: save_state(checkpoint, model, record()), checkpoint_freq)
        )
    remaining = int(total_timesteps) - int(model.num_timesteps)
    phase = Progress(progress_bar).phase(
        "task-conditioned pretraining", total_timesteps, unit="step", initial=model.num_timesteps
    )
    with phase as bar:
        if remaining > 0:
            model.learn(
                remaining,
                callback=CallbackList([*callbacks, StepsCallback(bar)]),
                reset_num_timesteps=state is None,
            )
    model.pretraining = record()
    if checkpoint.directory is not None and remaining > 0:
        save_state(checkpoint, model, model.pretraining)
    return model


def save_state(checkpoint: Checkpoint, model: TaskConditionedDQN, record: dict[str, Any]) -> None:
    """Checkpoint a pretraining run: weights, optimizer, counters, replay buffer, samplers."""
    tensors = {f"policy.{k}": v for k, v in model.policy.state_dict().items()}
    optimizer_tensors, param_groups = optimizer_state(model.policy.optimizer)
    tensors.update(optimizer_tensors)
    buffer = model.replay_buffer
    if not isinstance(buffer, DictReplayBuffer):
        raise ValueError(
            f"checkpointing supports SB3's DictReplayBuffer, not {type(buffer).__name__}"
        )
    filled = buffer.buffer_size if buffer.full else buffer.pos
    for name, arrays in (
        ("observations", buffer.observations),
        ("next_observations", buffer.next_observations),
    ):
        for key, array in arrays.items():
            tensors[f"replay.{name}.{key}"] = torch.from_numpy(array[:filled])
    for name in ("actions", "rewards", "dones", "timeouts"):
        tensors[f"replay.{name}"] = torch.from_numpy(getattr(buffer, name)[:filled])
    assert model.env is not None
    document = {
        "kind": CHECKPOINT_KIND,
        "num_timesteps": int(model.num_timesteps),
        "n_calls": int(model._n_calls),
        "n_updates": int(model._n_updates),
        "episode_num": int(model._episode_num),
        "param_groups": param_groups,
        "replay": {"pos": int(buffer.pos), "full": bool(buffer.full), "filled": filled},
        "samplers": list(model.env.env_method("get_checkpoint")),
        "record": record,
    }
    checkpoint.save(STATE_NAME, tensors, document)


def restore_state(
    model: TaskConditionedDQN, tensors: dict[str, torch.Tensor], document: dict[str, Any]
) -> tuple[float, float, list[int]]:
    """Put a :func:`save_state` checkpoint into ``model`` and its env; return the prior
    cost (core and wall seconds) and the steps it was resumed at."""
    model.policy.load_state_dict(
        {k[len("policy.") :]: v for k, v in tensors.items() if k.startswith("policy.")}
    )
    load_optimizer_state(model.policy.optimizer, tensors, document["param_groups"])
    buffer = model.replay_buffer
    assert isinstance(buffer, DictReplayBuffer)
    filled = int(document["replay"]["filled"])
    for name, arrays in (
        ("observations", buffer.observations),
        ("next_observations", buffer.next_observations),
    ):
        for key, array in arrays.items():
            array[:filled] = tensors[f"replay.{name}.{key}"].numpy()
    for name in ("actions", "rewards", "dones", "timeouts"):
        getattr(buffer, name)[:filled] = tensors[f"replay.{name}"].numpy()
    buffer.pos = int(document["replay"]["pos"])
    buffer.full = bool(document["replay"]["full"])
    model.num_timesteps = int(document["num_timesteps"])
    model._n_calls = int(document["n_calls"])
    model._n_updates = int(document["n_updates"])
    model._episode_num = int(document["episode_num"])
    env = model.env
    assert env is not None
    env.reset()  # takes the seeds SB3 set, so the samplers restored next are kept
    for env_index, sampler in enumerate(document["samplers"]):
        env.env_method("load_checkpoint", sampler, indices=[env_index])
    model._last_obs = env.reset()  # type: ignore[assignment]
    model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)
    record = document["record"]
    return (
        float(record["core_seconds"]),
        float(record["wall_seconds"]),
        [int(s) for s in record["resumed_at"]],
    )
