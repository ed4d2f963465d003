"""Bad inputs to envs, families, wrappers and models: each fails at once with an error that
names the parameter, raised on purpose by a check of the package (not by NumPy, torch or a
failure deep inside it), and leaves no file behind (the runner is
:func:`tests.helpers.check_bad_input`; training, artifacts and the command line have
matrices of their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks
import sb3_metadqn.pretrained
from gym_metatasks import ObserveDescriptor, ResampleTask
from sb3_metadqn import (
    MetaDQN,
    TabularQLearning,
    TaskConditionedDQN,
    WarmStartDQN,
)
from sb3_metadqn.io.artifacts import ArtifactError
from tests.helpers import (
    BadInput,
    bad_inputs,
    check_bad_input,
)

NAV = gym_metatasks.family("MetaNav-v0")
EMBEDDED = Path(sb3_metadqn.pretrained.__file__).parent / "MetaNav-v0.safetensors"
NAN = float("nan")
CASES: list[BadInput] = []


def _nav(task_id: int = 0) -> gym.Env[Any, Any]:
    return gym.make("MetaNav-v0", task_id=task_id)


# ---------------------------------------------------------------------- envs
for env_id in ("MetaNav-v0", "MetaFrozenLake4x4-v0", "MetaCartPole-v0", "MetaAcrobot-v0"):
    n = gym_metatasks.family(env_id).num_tasks
    CASES += bad_inputs(
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


CASES += bad_inputs(
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
    CASES += bad_inputs(
        f"step-action-{env_id}",
        lambda p, v, e=env_id: _step(e, v),
        [
            (v, ValueError, rf"action must be an int in \[0, {n_actions}\), got")
            for v in (-1, n_actions, 0.5, "0", None)
        ],
    )

CASES += bad_inputs(
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
CASES += bad_inputs(
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
CASES += bad_inputs(
    "oracle-horizon",
    lambda p, v: NAV.optimal_return(3, horizon=v),
    [
        (10**7, ValueError, r"horizon must be in \[1, 10000\], got 10000000"),
        (0, ValueError, r"horizon must be in \[1, 10000\], got 0"),
        (1.5, TypeError, "horizon must be an int"),
        ("10", TypeError, "horizon must be an int"),
    ],
)
CASES += bad_inputs(
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
CASES += bad_inputs(
    "ObserveDescriptor",
    lambda p, v: v(),
    [
        (lambda: ObserveDescriptor(_nav(), mode="flat"), ValueError, "mode must be 'concat' or 'dict'"),
        (lambda: ObserveDescriptor(ObserveDescriptor(_nav())), ValueError, "env already observes the descriptor"),
        (lambda: ObserveDescriptor(ResampleTask(ObserveDescriptor(_nav()))), ValueError, "env already observes"),
        (lambda: ObserveDescriptor(gym.make("CartPole-v1")), TypeError, "ObserveDescriptor needs a gym_metatasks env"),
    ],
)  # fmt: skip
CASES += bad_inputs(
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

CASES += bad_inputs(
    "ObserveDescriptor-features",
    lambda p, v: ObserveDescriptor(gym.make("MetaCartPole-v0"), features=v),
    [
        (["gravity", "mass"], ValueError, r"features\[1\] 'mass' is not a descriptor entry; allowed: \['gravity', "),
        ([5], ValueError, r"features\[0\] must be in \[0, 4\], got 5"),
        ([-1], ValueError, r"features\[0\] must be in \[0, 4\], got -1"),
        ([True], TypeError, r"features\[0\] must be a descriptor entry name or an index"),
        ("gravity", TypeError, "features must be a list of descriptor entry names or indices"),
        ([], ValueError, "features must name at least one descriptor entry"),
        (["length", 3], ValueError, r"more than once: \['length'\]"),
    ],
)  # fmt: skip

# ---------------------------------------------------------------------- task switching
CASES += bad_inputs(
    "set_task",
    lambda p, v: _nav().unwrapped.set_task(*v[0], **v[1]),
    [
        (((), {}), ValueError, "set_task needs exactly one of task or task_id, got task=None"),
        (((3,), {"task_id": 4}), ValueError, "set_task needs exactly one of task or task_id"),
        (((1000,), {}), ValueError, r"task_id must be in \[0, 1000\), got 1000"),
        ((("3",), {}), TypeError, r"task must be a task id \(int in \[0, 1000\)\), a Task, a NavTask"),
        (((gym_metatasks.family("MetaNav5x5-v0").as_task(0),), {}), ValueError, "task belongs to NavFamily\\(size=5"),
        ((({"size": 8},), {}), TypeError, r"task is missing field\(s\)"),
        (((), {"task_id": 2.0}), TypeError, r"task_id must be an int in \[0, 1000\), got 2.0"),
    ],
)  # fmt: skip
CASES += bad_inputs(
    "sample_tasks",
    lambda p, v: NAV.sample_tasks(**v),
    [
        ({"n": -1}, ValueError, r"n must be in \[0, 1000000\], got -1"),
        ({"n": 3, "split": "valid"}, ValueError, "split must be one of"),
        ({"n": 3, "rng": "abc"}, TypeError, "rng must be None, an int .* got 'abc'"),
        ({"n": 81, "split": "validation"}, ValueError, r"n=81 exceeds the 80 tasks"),
    ],
)  # fmt: skip


def _sb3_set(attr: str, value: Any, *, subproc: bool = False) -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    vec_env = NAV.make_sb3_vec_env([3, 4], vec_env_cls=SubprocVecEnv if subproc else DummyVecEnv)
    try:
        if attr == "set_task":
            vec_env.env_method("set_task", value)
        else:
            vec_env.set_attr(attr, value)
    finally:
        vec_env.close()


CASES += bad_inputs(
    "sb3-set_attr",
    lambda p, v: _sb3_set(*v),
    [
        (("task_id", [5, 9]), TypeError, r"task_id must be one task for each sub-env, got \[5, 9\]"),
        (("task_id", (5, 9)), TypeError, r"task_id must be one task for each sub-env, got \(5, 9\)"),
        (("task_id", 1000), ValueError, r"task_id must be in \[0, 1000\), got 1000"),
        (("task_id", 3.0), TypeError, r"task_id must be an int in \[0, 1000\), got 3.0"),
        (("task_id", None), TypeError, r"task_id must be an int in \[0, 1000\), got None"),
        (("task", [NAV.as_task(3)]), TypeError, r"task must be one task for each sub-env"),
        (("task", {**NAV.task_to_dict(3), "colour": 1}), TypeError, r"unknown field\(s\) \['colour'\]"),
        (("set_task", -1), ValueError, r"task_id must be in \[0, 1000\), got -1"),
        (("set_task", "3"), TypeError, r"task must be a task id"),
    ],
)  # fmt: skip
CASES += bad_inputs(
    "make_sb3_vec_env",
    lambda p, v: NAV.make_sb3_vec_env(**v),
    [
        ({"task_ids": [3, 1000]}, ValueError, r"task_ids\[1\] must be in \[0, 1000\), got 1000"),
        ({"task_ids": 2.0}, TypeError, r"task_ids must be a task id or a sequence of them"),
        ({"task_ids": []}, ValueError, "task_ids must name at least one task"),
        ({"task_ids": [3, 4], "n_envs": 1}, ValueError, r"n_envs must be in \[2, 1024\], got 1"),
        ({"task_ids": 3, "n_envs": 0}, ValueError, r"n_envs must be in \[1, 1024\], got 0"),
        ({"task_ids": 3, "seed": -1}, ValueError, r"seed must be None, an int"),
        ({"task_ids": 3, "start_index": -1}, ValueError, r"start_index must be in \[0, "),
        ({"task_ids": 3, "env_kwargs": {"task": NAV.task(3)}}, ValueError, r"env_kwargs must not set \['task'\]"),
        ({"task_ids": 3, "vec_env_kwargs": "fork"}, TypeError, "vec_env_kwargs must be a dict or None"),
    ],
)  # fmt: skip
CASES += bad_inputs(
    "set_tasks",
    lambda p, v: gym_metatasks.set_tasks(NAV.make_vec([3, 4]), v),
    [
        ([3], ValueError, r"tasks must hold one task per sub-env \(2\), got 1"),
        ([3, 1000], ValueError, r"tasks\[1\]: task_id must be in \[0, 1000\), got 1000"),
        ("34", TypeError, "tasks must be a sequence with one task per sub-env"),
        ([3, "4"], TypeError, r"tasks\[1\]: task must be a task id"),
    ],
)  # fmt: skip
CASES += bad_inputs(
    "benchmark",
    lambda p, v: gym_metatasks.benchmark(v),
    [
        ("MetaNope-v0", ValueError, r"env_id 'MetaNope-v0' is not registered"),
        ("CartPole-v1", ValueError, r"env_id 'CartPole-v1' is not a gym_metatasks family"),
        (3, TypeError, "env_id must be a str, got 3"),
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


CASES += bad_inputs(
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
CASES += bad_inputs(
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
CASES += bad_inputs(
    "WarmStartDQN",
    lambda p, v: WarmStartDQN("MlpPolicy", NAV.make(800), **v),
    [
        ({}, ValueError, "WarmStartDQN needs initializer="),
        ({"initializer": 3}, TypeError, "initializer must be None, a path or a Initializer"),
        ({"initializer": "/nonexistent.safetensors"}, FileNotFoundError, "no artifact at path='/nonexistent.safetensors'"),
    ],
)  # fmt: skip
CASES += bad_inputs(
    "TaskConditionedDQN",
    lambda p, v: TaskConditionedDQN("MultiInputPolicy", NAV.make(800), **v),
    [
        ({"initializer": "x"}, TypeError, r"TaskConditionedDQN does not take \['initializer'\]"),
        ({"meta_candidates": 2}, TypeError, r"does not take \['meta_candidates'\]"),
        ({"pretrained": "/nonexistent.safetensors"}, FileNotFoundError, "no artifact at path='/nonexistent.safetensors'"),
    ],
)  # fmt: skip
CASES += bad_inputs(
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


CASES += bad_inputs(
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


CASES += bad_inputs(
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


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_clearly_and_leaves_no_file(bad: BadInput, tmp_path: Path) -> None:
    check_bad_input(bad, tmp_path)


def test_the_matrices_hold_at_least_150_distinct_cases() -> None:
    from tests.test_bad_input_matrix_cli import CLI_CASES
    from tests.test_bad_input_matrix_training import CASES as TRAINING_CASES

    ids = [c.id for c in CASES + TRAINING_CASES] + [c[0] for c in CLI_CASES]
    assert len(ids) >= 150
    assert len(ids) == len(set(ids))
