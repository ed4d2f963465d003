"""A matrix of bad inputs across the public surface (envs, families, wrappers, models,
trainers, evaluation, artifacts, checkpoints and the command line).

Every case must fail at once with an error that names the parameter (or the file), raised on
purpose by a check of the package (not by NumPy, torch or a failure deep inside it), and
leave no file behind.
"""

from __future__ import annotations

import dataclasses
import json
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.torch import save as save_tensors

import gym_metatasks
import sb3_metadqn.pretrained
from gym_metatasks import ObserveDescriptor, ResampleTask
from sb3_metadqn import (
    MetaDQN,
    MetaLearner,
    TableBank,
    TabularQLearning,
    TaskConditionedDQN,
    WarmStartDQN,
    hypernetwork_train,
    meta_train,
    reptile_train,
)
from sb3_metadqn.baselines.task_conditioned_oracle import pretrain_oracle
from sb3_metadqn.baselines.task_conditioned_pretraining import pretrain
from sb3_metadqn.cli import main
from sb3_metadqn.core.backends import make_backend
from sb3_metadqn.evaluation.transfer import run_transfer
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.checkpoints import Checkpoint
from tests.helpers import TINY_ENV_ID, write_pickle_bomb, write_unchecked

PACKAGES = ("gym_metatasks", "sb3_metadqn")
EMBEDDED = Path(sb3_metadqn.pretrained.__file__).parent / "MetaNav-v0.safetensors"
NAN = float("nan")


@dataclasses.dataclass(frozen=True)
class Case:
    """A call that must fail: ``call(tmp_path)`` raises ``error`` whose message matches
    ``match`` (which names the parameter or the file)."""

    id: str
    call: Callable[[Path], Any]
    error: type[BaseException]
    match: str


CASES: list[Case] = []


def case(id: str, error: type[BaseException], match: str) -> Callable[[Callable[..., Any]], None]:
    def register(call: Callable[..., Any]) -> None:
        CASES.append(Case(id, call, error, match))

    return register


def cases(
    prefix: str, call: Callable[[Path, Any], Any], table: list[tuple[Any, type[BaseException], str]]
) -> None:
    """One case per ``(value, error, match)`` row, calling ``call(tmp_path, value)``."""
    for k, (value, error, match) in enumerate(table):
        CASES.append(Case(f"{prefix}-{k}", lambda p, v=value, c=call: c(p, v), error, match))


def _nav(task_id: int = 0) -> gym.Env[Any, Any]:
    return gym.make("MetaNav-v0", task_id=task_id)


# ---------------------------------------------------------------------- envs
for env_id in ("MetaNav-v0", "MetaFrozenLake4x4-v0", "MetaCartPole-v0", "MetaAcrobot-v0"):
    n = gym_metatasks.family(env_id).num_tasks
    cases(
        f"make-task_id-{env_id}",
        lambda p, v, e=env_id: gym.make(e, task_id=v),
        [
            (-1, ValueError, rf"task_id must be in \[0, {n}\), got -1"),
            (n, ValueError, rf"task_id must be in \[0, {n}\), got {n}"),
            (2.0, TypeError, r"task_id must be an int .* got 2.0"),
            ("1", TypeError, r"task_id must be an int .* got '1'"),
            (True, TypeError, r"task_id must be an int .* got True"),
            (None, ValueError, r"task_id=None needs explicit parameters"),
        ],
    )


def _reset(options: Any) -> None:
    env = _nav(2)
    env.reset(seed=0)
    env.reset(options=options)


cases(
    "reset-options",
    lambda p, v: _reset(v),
    [
        (0, TypeError, "options must be a dict or None, got 0"),
        ("task_id", TypeError, "options must be a dict or None"),
        ({"task": None}, ValueError, r"options\['task'\] must be a task"),
        ({"task_id": -3}, ValueError, r"options\['task_id'\] must be in \[0, 1000\)"),
        ({"task_id": 1.5}, TypeError, r"options\['task_id'\] must be an int"),
        ({"taskid": 1}, ValueError, r"reset options has unknown key\(s\) \['taskid'\]"),
        ({"task": {"size": 8}}, TypeError, r"task is missing field\(s\)"),
    ],
)


def _step(env_id: str, action: Any) -> None:
    env = gym.make(env_id, task_id=0)
    env.reset(seed=0)
    env.step(action)


for env_id, n_actions in (
    ("MetaNav-v0", 4),
    ("MetaFrozenLake-v0", 4),
    ("MetaCartPole-v0", 2),
    ("MetaAcrobot-v0", 3),
    ("MetaMountainCar-v0", 3),
):
    cases(
        f"step-action-{env_id}",
        lambda p, v, e=env_id: _step(e, v),
        [
            (v, ValueError, rf"action must be an int in \[0, {n_actions}\), got")
            for v in (-1, n_actions, 0.5, "0", None)
        ],
    )

cases(
    "make-kwargs",
    lambda p, v: gym.make(v[0], **v[1]),
    [
        (("MetaNav-v0", {"size": 2}), ValueError, r"size must be in \[3, 32\], got 2"),
        (("MetaCartPole-v0", {"task": {"gravity": 9.8}}), TypeError, r"task is missing field"),
        (
            ("MetaNav-v0", {"task": {"size": 8, "start": (0, 0), "goal": (3, 3), "walls": [], "slip": NAN}}),
            ValueError,
            "task.slip must be finite",
        ),
    ],
)  # fmt: skip

# ---------------------------------------------------------------------- families
NAV = gym_metatasks.family("MetaNav-v0")
cases(
    "sample_task_ids",
    lambda p, v: NAV.sample_task_ids(**v),
    [
        ({"n": -1}, ValueError, r"n must be in \[0, 1000000\], got -1"),
        ({"n": 10**10, "replace": True}, ValueError, r"n must be in \[0, 1000000\]"),
        ({"n": 2.5}, TypeError, "n must be an int"),
        ({"n": 3, "replace": "no"}, TypeError, "replace must be True or False, got 'no'"),
        ({"n": 3, "replace": 1}, TypeError, "replace must be True or False, got 1"),
        ({"n": 3, "rng": -1}, ValueError, r"rng must be None, an int in \[0, .*got -1"),
        ({"n": 3, "rng": "abc"}, TypeError, "rng must be None, an int .* got 'abc'"),
        ({"n": 3, "rng": 1.5}, TypeError, "rng must be None, an int .* got 1.5"),
        ({"n": 3, "split": "valid"}, ValueError, "split must be one of"),
        ({"n": 201, "split": "test"}, ValueError, r"n=201 exceeds the 200 tasks"),
    ],
)
cases(
    "oracle-horizon",
    lambda p, v: NAV.optimal_return(3, horizon=v),
    [
        (10**7, ValueError, r"horizon must be in \[1, 10000\], got 10000000"),
        (0, ValueError, r"horizon must be in \[1, 10000\], got 0"),
        (1.5, TypeError, "horizon must be an int"),
        ("10", TypeError, "horizon must be an int"),
    ],
)
cases(
    "family-calls",
    lambda p, v: v(),
    [
        (lambda: NAV.task(-1), ValueError, r"task_id must be in \[0, 1000\)"),
        (lambda: NAV.random_return(3, horizon=-2), ValueError, r"horizon must be in \[1, 10000\]"),
        (lambda: NAV.optimal_return(3.5), TypeError, "task must be a task id"),
        (lambda: NAV.split_task_ids("dev"), ValueError, "split must be one of"),
        (lambda: gym_metatasks.family("NoSuch-v0"), ValueError, "env_id 'NoSuch-v0' is not registered"),
        (lambda: gym_metatasks.family(3), TypeError, "env_id must be a str"),
        (lambda: gym_metatasks.family("MetaCartPole-v0").measure_random_return(0, horizon=10**6), ValueError, r"horizon must be in \[1, 10000\]"),
    ],
)  # fmt: skip

# ---------------------------------------------------------------------- wrappers
cases(
    "ObserveDescriptor",
    lambda p, v: v(),
    [
        (lambda: ObserveDescriptor(_nav(), mode="flat"), ValueError, "mode must be 'concat' or 'dict'"),
        (lambda: ObserveDescriptor(ObserveDescriptor(_nav())), ValueError, "env already observes the descriptor"),
        (lambda: ObserveDescriptor(ResampleTask(ObserveDescriptor(_nav()))), ValueError, "env already observes"),
        (lambda: ObserveDescriptor(gym.make("CartPole-v1")), TypeError, "ObserveDescriptor needs a gym_metatasks env"),
    ],
)  # fmt: skip
cases(
    "ResampleTask",
    lambda p, v: ResampleTask(_nav(), **v),
    [
        ({"split": "test", "task_ids": [1, 2]}, ValueError, "pass either split or task_ids"),
        ({"split": "dev"}, ValueError, "split must be one of"),
        ({"task_ids": [1000]}, ValueError, r"task_ids\[0\] must be in \[0, 1000\)"),
        ({"task_ids": []}, ValueError, "at least one task id"),
        ({"task_ids": 5}, TypeError, "task_ids must be a collection of task ids"),
        ({"seed": -1}, ValueError, "seed must be None, an int"),
        ({"seed": "abc"}, TypeError, "seed must be None, an int"),
    ],
)


def _load_sampler_checkpoint(change: dict[str, Any]) -> None:
    env = ResampleTask(_nav(), seed=0)
    state = env.get_checkpoint()
    before = env._rng.bit_generator.state
    try:
        env.load_checkpoint({**state, **change})
    finally:
        assert env._rng.bit_generator.state == before  # nothing half-applied


cases(
    "ResampleTask-load_checkpoint",
    lambda p, v: _load_sampler_checkpoint(v),
    [
        ({"num_draws": -5}, ValueError, r"checkpoint\['num_draws'\] must be in \[0, "),
        ({"num_draws": "7"}, TypeError, r"checkpoint\['num_draws'\] must be an int"),
        ({"num_draws": 2.9}, TypeError, r"checkpoint\['num_draws'\] must be an int"),
        ({"num_draws": "abc", "bit_generator": {"x": 1}}, TypeError, r"checkpoint\['num_draws'\]"),
        ({"bit_generator": {"bit_generator": "MT19937"}}, ValueError, r"checkpoint\['bit_generator'\]"),
        ({"version": 9}, ValueError, "checkpoint version must be 1, got 9"),
        ({"task_ids_hash": "0"}, ValueError, "checkpoint was taken over other task ids"),
    ],
)  # fmt: skip

# ---------------------------------------------------------------------- models
cases(
    "MetaDQN",
    lambda p, v: MetaDQN("MlpPolicy", NAV.make(800), **v),
    [
        ({"meta_candidates": 0}, ValueError, "meta_candidates must be an int >= 1, got 0"),
        ({"meta_candidates": 10**9}, ValueError, "meta_candidates=1000000000 ranks .* meta_probe_steps > 0"),
        ({"meta_probe_steps": -1}, ValueError, "meta_probe_steps must be an int >= 0, got -1"),
        ({"anchor_rate": 1.0}, ValueError, r"anchor_rate must be a number in \[0, 1\), got 1.0"),
        ({"anchor_rate": NAN}, ValueError, "anchor_rate must be a number"),
        ({"meta_learner": 3}, TypeError, "meta_learner must be None, a path or a MetaLearner"),
        ({"meta_learner": "/nonexistent/m.safetensors"}, FileNotFoundError, "no artifact at path='/nonexistent/m.safetensors'"),
        ({"task_descriptor": [0.5, 0.5]}, ValueError, r"task_descriptor must have shape \(69,\)"),
        ({"task_descriptor": [NAN] * 69}, ValueError, "task_descriptor must be finite"),
        ({"task_descriptor": [1e6] * 69}, ValueError, r"task_descriptor must lie in the descriptor_space of MetaNav-v0: entry 0 must be in \[0, 1\], got 1e\+06"),
        ({"task_descriptor": [0.5] * 68 + [-2.0]}, ValueError, r"entry 68 must be in \[0, 1\], got -2"),
    ],
)  # fmt: skip
cases(
    "WarmStartDQN",
    lambda p, v: WarmStartDQN("MlpPolicy", NAV.make(800), **v),
    [
        ({}, ValueError, "WarmStartDQN needs initializer="),
        ({"initializer": 3}, TypeError, "initializer must be None, a path or a Initializer"),
        ({"initializer": "/nonexistent.safetensors"}, FileNotFoundError, "no artifact at path='/nonexistent.safetensors'"),
    ],
)  # fmt: skip
cases(
    "TaskConditionedDQN",
    lambda p, v: TaskConditionedDQN("MultiInputPolicy", NAV.make(800), **v),
    [
        ({"initializer": "x"}, TypeError, r"TaskConditionedDQN does not take \['initializer'\]"),
        ({"meta_candidates": 2}, TypeError, r"does not take \['meta_candidates'\]"),
        ({"pretrained": "/nonexistent.safetensors"}, FileNotFoundError, "no artifact at path='/nonexistent.safetensors'"),
    ],
)  # fmt: skip
cases(
    "TabularQLearning",
    lambda p, v: TabularQLearning("TabularPolicy", gym.make("MetaFrozenLake4x4-v0"), **v),
    [
        ({"learning_rate": 0}, ValueError, r"learning_rate must be in \(0.0, 1.0\]"),
        ({"learning_rate": NAN}, ValueError, "learning_rate must be in"),
        ({"gamma": 1.5}, ValueError, r"gamma must be in"),
    ],
)


def _tc_predict(observation: Any) -> None:
    model = TaskConditionedDQN("MultiInputPolicy", NAV.make(800), seed=0)
    model.predict(observation)


cases(
    "TaskConditionedDQN.predict",
    lambda p, v: _tc_predict(v),
    [
        (np.eye(64, dtype=np.float32)[0], ValueError, r"observation must be a dict with keys \['observation', 'task_descriptor'\]"),
        ({"observation": np.zeros(64, np.float32)}, ValueError, "observation must be a dict with keys"),
    ],
)  # fmt: skip


def _model_file(tmp: Path, action: str) -> None:
    model = MetaDQN("MlpPolicy", NAV.make(800), seed=0)
    if action == "schedule":
        model.learning_rate = lambda progress: 1e-4
        model.save(tmp / "out.safetensors")
    elif action == "other-task":
        model.save(tmp / "m.safetensors")
        try:
            MetaDQN.load(tmp / "m.safetensors", env=NAV.make(801))
        finally:
            (tmp / "m.safetensors").unlink()
    elif action == "wrong-class":
        model.save(tmp / "m.safetensors")
        try:
            TaskConditionedDQN.load(tmp / "m.safetensors")
        finally:
            (tmp / "m.safetensors").unlink()
    elif action == "unwritable":
        model.save("/proc/no/such/dir/m.zip")
    elif action == "not-a-model":
        (tmp / "m.safetensors").write_bytes(EMBEDDED.read_bytes())
        MetaDQN.load(tmp / "m.safetensors")


cases(
    "model-file",
    lambda p, v: _model_file(p, v),
    [
        ("schedule", ValueError, r"out.safetensors'?: learning_rate is a schedule"),
        ("other-task", ValueError, r"env holds task \[801\] but the model was initialized for task 800"),
        ("wrong-class", ArtifactError, r"m.safetensors'? holds a MetaDQN; load it with MetaDQN.load"),
        ("unwritable", OSError, r"cannot write the model to path='/proc/no/such/dir/m.zip'"),
        ("not-a-model", ArtifactError, r"m.safetensors'? holds a 'meta-learner' artifact, not a model"),
    ],
)  # fmt: skip

# ---------------------------------------------------------------------- meta-training
cases(
    "meta_train",
    lambda p, v: meta_train(TINY_ENV_ID, num_sources=4, checkpoint_dir=p / "ck", **v),
    [
        ({"source_timesteps": -5}, ValueError, "source_timesteps must be a positive int or None, got -5"),
        ({"source_timesteps": 0}, ValueError, "source_timesteps must be a positive int or None, got 0"),
        ({"keep_sources": 0}, ValueError, "keep_sources must be a positive int or None, got 0"),
        ({"keep_sources": -1}, ValueError, "keep_sources must be a positive int or None, got -1"),
        ({"net_arch": (0,)}, ValueError, r"net_arch\[0\] must be an int in \[1, 65536\], got 0"),
        ({"net_arch": (64, -5)}, ValueError, r"net_arch\[1\] must be an int in \[1, 65536\], got -5"),
        ({"net_arch": (10**9,)}, ValueError, r"net_arch\[0\] must be an int in \[1, 65536\]"),
        ({"seed": -1}, ValueError, "seed must be an int in"),
        ({"seed": "abc"}, ValueError, "seed must be an int in .* got 'abc'"),
        ({"seed": 1.5}, ValueError, "seed must be an int in .* got 1.5"),
        ({"rounds": 0}, ValueError, "rounds must be a positive int, got 0"),
        ({"rounds": 2.5}, ValueError, "rounds must be a positive int, got 2.5"),
        ({"chunk_size": -1}, ValueError, "chunk_size must be a positive int, got -1"),
        ({"mapper_steps": -1}, ValueError, "mapper_steps must be an int >= 0, got -1"),
        ({"gamma": NAN}, ValueError, r"gamma must be a finite number in \[0, 1\), got nan"),
        ({"gamma": 1.5}, ValueError, r"gamma must be a finite number in \[0, 1\), got 1.5"),
        ({"num_workers": -2}, ValueError, "num_workers must be a positive int or None, got -2"),
        ({"num_workers": 0}, ValueError, "num_workers must be a positive int or None, got 0"),
        ({"backend": "gpu"}, ValueError, "backend must be one of"),
        ({"ray_address": 5, "backend": "ray"}, ValueError, "ray_address must be a 'host:port' string"),
        ({"ray_address": "nohost", "backend": "ray"}, ValueError, "ray_address must be 'host:port'"),
        ({"source_method": "magic"}, ValueError, "source_method must be 'auto', 'oracle' or 'dqn'"),
        ({"warm_start": "maybe"}, ValueError, "warm_start must be 'auto', 'yes' or 'no'"),
        ({"planner": "yes"}, ValueError, "planner must be True, False or None"),
        ({"task_ids": [999]}, ValueError, "must be train-split tasks"),
    ],
)  # fmt: skip
cases(
    "meta_train-configs",
    lambda p, v: meta_train(TINY_ENV_ID, num_sources=4, checkpoint_dir=p / "ck", **v),
    [
        ({"mapper": sb3_metadqn.MapperConfig(rank=0)}, ValueError, "mapper.rank must be a positive int, got 0"),
        ({"mapper": sb3_metadqn.MapperConfig(planner_iterations=-1)}, ValueError, "mapper.planner_iterations must be a positive int"),
        ({"mapper_training": sb3_metadqn.MapperTrainingConfig(learning_rate=-1.0)}, ValueError, r"mapper_training.learning_rate must be a finite number in \(0, 1\]"),
        ({"mapper_training": sb3_metadqn.MapperTrainingConfig(beta=NAN)}, ValueError, "mapper_training.beta must be a finite number >= 0, got nan"),
        ({"mapper_training": sb3_metadqn.MapperTrainingConfig(neighbours=0)}, ValueError, "mapper_training.neighbours must be a positive int"),
        ({"mapper_training": sb3_metadqn.MapperTrainingConfig(batch_size=0)}, ValueError, "mapper_training.batch_size must be a positive int"),
    ],
)  # fmt: skip
cases(
    "meta_train-env",
    lambda p, v: meta_train(v, checkpoint_dir=p / "ck"),
    [
        ("NoSuchEnv-v0", ValueError, "env_id: env_id 'NoSuchEnv-v0' is not registered"),
        ("CartPole-v1", ValueError, "not a gym_metatasks family"),
    ],
)

# ---------------------------------------------------------------------- baselines
cases(
    "reptile_train",
    lambda p, v: reptile_train(TINY_ENV_ID, checkpoint_dir=p / "ck", **v),
    [
        ({"iterations": 0}, ValueError, "iterations must be a positive int, got 0"),
        ({"meta_batch_size": -1}, ValueError, "meta_batch_size must be a positive int"),
        ({"inner_steps": 0}, ValueError, "inner_steps must be a positive int or None, got 0"),
        (
            {"outer_step_size": 1.5},
            ValueError,
            r"outer_step_size must be a finite number in \(0, 1\]",
        ),
        ({"outer_step_size": NAN}, ValueError, "outer_step_size must be a finite number"),
        ({"seed": -3}, ValueError, "seed must be an int in"),
        ({"checkpoint_every": 0}, ValueError, "checkpoint_every must be a positive int, got 0"),
        ({"num_workers": -2}, ValueError, "num_workers must be a positive int or None, got -2"),
        ({"net_arch": (0,)}, ValueError, r"net_arch\[0\] must be an int in \[1, 65536\]"),
    ],
)
cases(
    "hypernetwork_train",
    lambda p, v: hypernetwork_train(TINY_ENV_ID, checkpoint_dir=p / "ck", **v),
    [
        ({"steps": 0}, ValueError, "steps must be a positive int, got 0"),
        ({"batch_size": -1}, ValueError, "batch_size must be a positive int"),
        ({"learning_rate": -1.0}, ValueError, r"learning_rate must be a finite number in \(0, 1\]"),
        ({"seed": -1}, ValueError, "seed must be an int in"),
        ({"checkpoint_every": 0}, ValueError, "checkpoint_every must be a positive int"),
        ({"num_workers": 0}, ValueError, "num_workers must be a positive int or None"),
        ({"source_timesteps": -5}, ValueError, "source_timesteps must be a positive int or None"),
    ],
)
cases(
    "pretrain",
    lambda p, v: pretrain(TINY_ENV_ID, checkpoint_dir=p / "ck", **v),
    [
        ({"total_timesteps": 0}, ValueError, "total_timesteps must be a positive int, got 0"),
        ({"n_envs": -1}, ValueError, "n_envs must be a positive int"),
        ({"checkpoint_freq": 0}, ValueError, "checkpoint_freq must be a positive int"),
        ({"seed": -1}, ValueError, "seed must be an int in"),
        ({"seed": "abc"}, ValueError, "seed must be an int in .* got 'abc'"),
        ({"task_ids": [1], "split": "test"}, ValueError, "pass either task_ids or split"),
        (
            {"dqn_kwargs": {"seed": 3}},
            ValueError,
            r"dqn_kwargs has unknown or reserved key\(s\) \['seed'\]",
        ),
    ],
)
cases(
    "pretrain_oracle",
    lambda p, v: pretrain_oracle(TINY_ENV_ID, checkpoint_dir=p / "ck", **v),
    [
        ({"steps": 0}, ValueError, "steps must be a positive int, got 0"),
        ({"batch_tasks": -1}, ValueError, "batch_tasks must be a positive int"),
        ({"gamma": 1.0}, ValueError, r"gamma must be a finite number in \[0, 1\), got 1.0"),
        ({"learning_rate": NAN}, ValueError, "learning_rate must be a finite number"),
        ({"seed": -1}, ValueError, "seed must be an int in"),
    ],
)
cases(
    "TableBank.build",
    lambda p, v: TableBank.build("MetaFrozenLake4x4-v0", **v),
    [
        ({"num_sources": 0}, ValueError, "num_sources must be a positive int, got 0"),
        ({"timesteps": -1}, ValueError, "timesteps must be a positive int, got -1"),
        ({"seed": -1}, ValueError, "seed must be an int in"),
        ({"gamma": 1.0}, ValueError, r"gamma must be a finite number in \[0, 1\), got 1.0"),
        ({"method": "magic"}, ValueError, "method must be one of"),
    ],
)
cases(
    "backend",
    lambda p, v: make_backend(*v),
    [
        (("local", -2), ValueError, "num_workers must be a positive int or None, got -2"),
        (("local", 2.5), ValueError, "num_workers must be a positive int or None, got 2.5"),
        (("cluster",), ValueError, "backend must be one of"),
    ],
)

# ---------------------------------------------------------------------- evaluation
cases(
    "run_transfer",
    lambda p, v: run_transfer("scratch", TINY_ENV_ID, 800, **{"seed": 0, "total_timesteps": 100, **v}),
    [
        ({"total_timesteps": -5}, ValueError, "total_timesteps must be a positive int, got -5"),
        ({"total_timesteps": 0}, ValueError, "total_timesteps must be a positive int, got 0"),
        ({"eval_freq": 0}, ValueError, "eval_freq must be a positive int, got 0"),
        ({"eval_episodes": 0}, ValueError, "eval_episodes must be a positive int, got 0"),
        ({"threshold": NAN}, ValueError, r"threshold must be a finite number in \[0, 1\], got nan"),
        ({"threshold": 2.0}, ValueError, r"threshold must be a finite number in \[0, 1\]"),
        ({"seed": -1}, ValueError, "seed must be an int in"),
        ({"seed": "abc"}, ValueError, "seed must be an int in"),
    ],
)  # fmt: skip
CASES.append(
    Case(
        "run_transfer-train-task",
        lambda p: run_transfer("scratch", TINY_ENV_ID, 0, 0, total_timesteps=100),
        ValueError,
        "task_id must be a held-out task",
    )
)


# ---------------------------------------------------------------------- artifacts
def _embedded_with(
    path: Path,
    tensors: Callable[[dict[str, torch.Tensor]], None],
    document: Callable[[dict[str, Any]], Any],
) -> Path:
    saved, doc = artifacts.read(EMBEDDED)
    saved = {k: v.clone() for k, v in saved.items()}
    tensors(saved)
    changed = document(doc)
    if changed is not None:  # a document that is not an object at all
        metadata = {artifacts.METADATA_KEY: json.dumps(changed)}
        path.write_bytes(save_tensors(saved, metadata=metadata))
        return path
    return write_unchecked(path, saved, doc)


def _load_changed(tmp: Path, tensors: Any = None, document: Any = None) -> Any:
    path = _embedded_with(
        tmp / "bad.safetensors", tensors or (lambda t: None), document or (lambda d: None)
    )
    snapshot = sorted(tmp.iterdir())
    try:
        return MetaLearner.load(path)
    finally:
        assert sorted(tmp.iterdir()) == snapshot


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.__setitem__(key, value)


def _nan_tensor(t: dict[str, torch.Tensor]) -> None:
    t["sources.0.weight"][0, 0, 0] = NAN


def _float64(t: dict[str, torch.Tensor]) -> None:
    t["sources.0.weight"] = t["sources.0.weight"].double()


def _int32(t: dict[str, torch.Tensor]) -> None:
    t["source_descriptors"] = t["source_descriptors"].to(torch.int32)


cases(
    "artifact-meta-learner",
    lambda p, v: _load_changed(p, *v),
    [
        ((_nan_tensor, None), ArtifactError, r"bad.safetensors'?: tensor 'sources.0.weight' holds NaN"),
        ((_float64, None), ArtifactError, r"bad.safetensors'?: tensor 'sources.0.weight' has dtype float64"),
        ((_int32, None), ArtifactError, r"tensor 'source_descriptors' has dtype int32"),
        ((None, _set("observation_space", None)), ArtifactError, r"bad.safetensors'?: 'observation_space' must be dict, got None"),
        ((None, _set("env_id", "NoSuch-v0")), ArtifactError, r"env_id 'NoSuch-v0' is not a registered family"),
        ((None, _set("env_id", 3)), ArtifactError, r"'env_id' must be str, got 3"),
        ((None, _set("descriptor_names", "abc")), ArtifactError, r"'descriptor_names' must be list"),
        ((None, _set("training", [])), ArtifactError, r"'training' must be dict"),
        ((None, lambda d: d.pop("architecture") and None), ArtifactError, r"missing the key 'architecture'"),
        ((None, lambda d: [1, 2]), ArtifactError, r"document must be a JSON object, got list"),
        ((None, _set("kind", "reptile-init")), ArtifactError, r"holds a 'reptile-init', not a 'meta-learner'"),
        ((None, _set("source_task_ids", ["a"] * 64)), ArtifactError, r"'source_task_ids' must be task ids \(ints >= 0\), got \['a'"),
        ((None, _set("source_task_ids", [1.5] * 64)), ArtifactError, r"'source_task_ids' must be task ids"),
        ((None, _set("source_task_ids", "x")), ArtifactError, r"'source_task_ids' must be list, got 'x'"),
        ((None, _set("source_provenance", [])), ArtifactError, r"'source_provenance' must hold one record per source"),
    ],
)  # fmt: skip


def _bytes_file(tmp: Path, data: bytes) -> None:
    path = tmp / "m.safetensors"
    path.write_bytes(data)
    MetaLearner.load(path)


cases(
    "artifact-bytes",
    lambda p, v: _bytes_file(p, v),
    [
        (b"", ArtifactError, r"m.safetensors'? is truncated"),
        (b"PK\x03\x04rest", ArtifactError, r"m.safetensors'? is a zip archive"),
        (b"\x80\x04\x95", ArtifactError, r"m.safetensors'? is a Python pickle"),
        (
            EMBEDDED.read_bytes()[:-100],
            ArtifactError,
            r"m.safetensors'? is (corrupted or )?truncated",
        ),
        (
            b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
            ArtifactError,
            r"m.safetensors'? is corrupted",
        ),
    ],
)
CASES.append(
    Case(
        "artifact-pickle-bomb",
        lambda p: MetaLearner.load(write_pickle_bomb(p / "bomb.pkl")),
        ArtifactError,
        r"bomb.pkl'? is a Python pickle",
    )
)


def _write_nan(tmp: Path, document: dict[str, Any]) -> None:
    artifacts.write(tmp / "out.safetensors", {"w": torch.tensor([1.0, NAN])}, document)


cases(
    "artifact-write",
    lambda p, v: v(p),
    [
        (lambda p: _write_nan(p, {"kind": "x"}), ArtifactError, r"out.safetensors'?: tensor 'w' holds NaN"),
        (lambda p: artifacts.write(p / "out.safetensors", {}, {"x": NAN}), ArtifactError, r"out.safetensors'?: its document is not plain JSON: NaN"),
        (lambda p: artifacts.write(p / "out.safetensors", {}, {"x": np.int64(3)}), ArtifactError, r"out.safetensors'?: its document is not plain JSON"),
        (lambda p: artifacts.write(p / "out.safetensors", {}, {"x": object()}), ArtifactError, "not plain JSON"),
    ],
)  # fmt: skip


def _config_json(tmp: Path, text: str) -> None:
    (tmp / "ck").mkdir()
    (tmp / "ck" / "config.json").write_text(text)
    try:
        Checkpoint(tmp / "ck", {"a": 1})
    finally:
        assert sorted(p.name for p in (tmp / "ck").iterdir()) == ["config.json"]


cases(
    "checkpoint-config",
    lambda p, v: _config_json(p, v),
    [
        ("{broken", ValueError, r"ck/config.json' is not a run configuration .*delete"),
        ("[1, 2]", ValueError, r"ck/config.json' is not a run configuration .*a list"),
        ('"text"', ValueError, r"ck/config.json' is not a run configuration"),
        ('{"a": 2}', ValueError, r"holds a run with another configuration \(differs in \['a'\]\)"),
    ],
)


# ---------------------------------------------------------------------- the runner
def _raised_here(error: BaseException | None) -> bool:
    """Whether ``error``, or the error it was raised from (Gymnasium re-raises the errors of
    an env's constructor with their message), was raised by the package's own code on
    purpose: its innermost frame is in ``gym_metatasks`` or ``sb3_metadqn``, not in NumPy,
    torch, the standard library or SB3."""
    while error is not None:
        frames = traceback.extract_tb(error.__traceback__)
        if frames and any(f"/{package}/" in frames[-1].filename for package in PACKAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_clearly_and_leaves_no_file(bad: Case, tmp_path: Path) -> None:
    with pytest.raises(bad.error) as info:
        bad.call(tmp_path)
    assert re.search(bad.match, str(info.value)), str(info.value)
    assert _raised_here(info.value), traceback.format_exception(info.value)[-3:]
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p for p in leftovers if p.name not in ("bad.safetensors", "m.safetensors", "bomb.pkl", "config.json")] == []  # fmt: skip


# ---------------------------------------------------------------------- the command line
CLI_CASES: list[tuple[str, list[str], str]] = [
    ("mt-source-timesteps-neg", ["meta-train", TINY_ENV_ID, "--source-timesteps", "-5"], r"--source-timesteps: must be a positive int or None, got '-5'"),
    ("mt-source-timesteps-0", ["meta-train", TINY_ENV_ID, "--source-timesteps", "0"], r"--source-timesteps: must be a positive int"),
    ("mt-keep-0", ["meta-train", TINY_ENV_ID, "--keep-sources", "0"], r"--keep-sources: must be a positive int"),
    ("mt-keep-neg", ["meta-train", TINY_ENV_ID, "--keep-sources", "-1"], r"--keep-sources: must be a positive int"),
    ("mt-net-arch-0", ["meta-train", TINY_ENV_ID, "--net-arch", "0"], r"--net-arch: must be an int in \[1, 65536\], got '0'"),
    ("mt-net-arch-neg", ["meta-train", TINY_ENV_ID, "--net-arch", "64", "-5"], r"--net-arch: must be an int in \[1, 65536\], got '-5'"),
    ("mt-seed-neg", ["meta-train", TINY_ENV_ID, "--seed", "-1"], r"--seed: must be an int in \[0, 9223372036854775807\], got '-1'"),
    ("mt-seed-text", ["meta-train", TINY_ENV_ID, "--seed", "abc"], r"--seed: must be an int in"),
    ("mt-workers", ["meta-train", TINY_ENV_ID, "--num-workers", "-2"], r"--num-workers: must be a positive int or None, got '-2'"),
    ("mt-gamma-nan", ["meta-train", TINY_ENV_ID, "--gamma", "nan"], r"--gamma: must be a finite number in \[0, 1\), got 'nan'"),
    ("mt-rounds", ["meta-train", TINY_ENV_ID, "--rounds", "0"], r"--rounds: must be a positive int"),
    ("mt-chunk", ["meta-train", TINY_ENV_ID, "--chunk-size", "1.5"], r"--chunk-size: must be a positive int, got '1.5'"),
    ("mt-mapper-steps", ["meta-train", TINY_ENV_ID, "--mapper-steps", "-1"], r"--mapper-steps: must be an int >= 0"),
    ("mt-mapper-rank", ["meta-train", TINY_ENV_ID, "--mapper-rank", "0"], r"--mapper-rank: must be a positive int"),
    ("mt-mapper-lr", ["meta-train", TINY_ENV_ID, "--mapper-training-learning-rate", "inf"], r"--mapper-training-learning-rate: must be a finite number in \(0, 1\]"),
    ("mt-mapper-beta", ["meta-train", TINY_ENV_ID, "--mapper-training-beta", "-1"], r"--mapper-training-beta: must be a finite number >= 0"),
    ("mt-backend", ["meta-train", TINY_ENV_ID, "--backend", "gpu"], r"--backend: invalid choice"),
    ("mt-num-sources", ["meta-train", TINY_ENV_ID, "--num-sources", "1"], r"num_sources must be >= 2"),
    ("mt-env", ["meta-train", "NoSuch-v0"], r"env_id 'NoSuch-v0' is not registered"),
    ("mt-ray", ["meta-train", TINY_ENV_ID, "--backend", "ray", "--ray-address", "127.0.0.1:1"], r"ray_address='127.0.0.1:1': no Ray cluster answers"),
    ("ev-tasks-neg", ["evaluate", TINY_ENV_ID, "--tasks", "-1"], r"--tasks: must be a positive int, got '-1'"),
    ("ev-tasks-0", ["evaluate", TINY_ENV_ID, "--tasks", "0"], r"--tasks: must be a positive int, got '0'"),
    ("ev-tasks-many", ["evaluate", TINY_ENV_ID, "--tasks", "5000"], r"--tasks must be at most 200"),
    ("ev-seeds-0", ["evaluate", TINY_ENV_ID, "--seeds", "0"], r"--seeds: must be a positive int"),
    ("ev-timesteps", ["evaluate", TINY_ENV_ID, "--timesteps", "-5"], r"--timesteps: must be a positive int"),
    ("ev-eval-freq", ["evaluate", TINY_ENV_ID, "--eval-freq", "0"], r"--eval-freq: must be a positive int"),
    ("ev-eval-episodes", ["evaluate", TINY_ENV_ID, "--eval-episodes", "0"], r"--eval-episodes: must be a positive int"),
    ("ev-threshold-nan", ["evaluate", TINY_ENV_ID, "--threshold", "nan"], r"--threshold: must be a finite number in \[0, 1\], got 'nan'"),
    ("ev-output", ["evaluate", TINY_ENV_ID, "--output", "/proc/no/such/out.json"], r"--output='/proc/no/such' cannot be written"),
    ("ev-task-ids", ["evaluate", TINY_ENV_ID, "--methods", "scratch", "--task-ids", "3", "--timesteps", "10"], r"task_id must be a held-out task"),
    ("ev-artifact", ["evaluate", TINY_ENV_ID, "--artifact", "reptile"], r"--artifact must be METHOD=PATH"),
    ("ev-meta-learner", ["evaluate", TINY_ENV_ID, "--meta-learner", "/nonexistent.safetensors"], r"no artifact at path='/nonexistent.safetensors'"),
    ("tb-seed", ["train-baseline", "reptile", TINY_ENV_ID, "--seed", "-1"], r"--seed: must be an int in"),
    ("tb-iterations", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "iterations=0"], r"--set iterations=0: iterations must be a positive int, got 0"),
    ("tb-net-arch", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "net_arch=[0]"], r"--set net_arch=\[0\]: net_arch\[0\] must be an int in \[1, 65536\]"),
    ("tb-workers", ["train-baseline", "hypernetwork", TINY_ENV_ID, "--set", "num_workers=-2"], r"--set num_workers=-2: num_workers must be a positive int or None"),
    ("tb-unknown", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "itrations=5"], r"--set itrations=5: .* has no option 'itrations'"),
    ("tb-type", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "iterations=\"x\""], r"--set iterations=\"x\": iterations must be int"),
    ("tb-lr", ["train-baseline", "hypernetwork", TINY_ENV_ID, "--set", "learning_rate=NaN"], r"learning_rate"),
    ("demo-tasks", ["demo", "--tasks", "0"], r"--tasks: must be a positive int, got '0'"),
    ("demo-timesteps", ["demo", "--timesteps", "-5"], r"--timesteps: must be an int >= 0, got '-5'"),
    ("info-missing", ["info", "/nonexistent.safetensors"], r"no artifact at path='/nonexistent.safetensors'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "match"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_bad_command_lines_fail_before_any_work_naming_the_option(
    argv: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if argv[0] in ("meta-train", "train-baseline"):
        argv = [*argv, "--output", str(tmp_path / "out.safetensors")]
        if argv[0] == "meta-train":
            argv += ["--checkpoint-dir", str(tmp_path / "ck")]
    with pytest.raises(SystemExit) as info:
        main(argv)
    message = info.value.code if isinstance(info.value.code, str) else capsys.readouterr().err
    assert info.value.code not in (0, None)
    assert re.search(match, message), message
    assert "Traceback" not in message
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_matrix_has_at_least_150_cases() -> None:
    assert len(CASES) + len(CLI_CASES) >= 150


def test_no_case_is_listed_twice() -> None:
    ids = [c.id for c in CASES] + [c[0] for c in CLI_CASES]
    assert len(ids) == len(set(ids))
