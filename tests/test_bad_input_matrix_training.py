"""Bad inputs to meta-training, the baselines' trainers, the evaluation, artifacts and
checkpoints: each fails at once, names the parameter or the file, is raised by a check of
the package and leaves no file behind (see :func:`tests.helpers.check_bad_input`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_tensors

import gym_metatasks
import sb3_metadqn.pretrained
from sb3_metadqn import (
    MetaLearner,
    TableBank,
    hypernetwork_train,
    meta_train,
    reptile_train,
)
from sb3_metadqn.baselines.task_conditioned_oracle import pretrain_oracle
from sb3_metadqn.baselines.task_conditioned_pretraining import pretrain
from sb3_metadqn.core.backends import make_backend
from sb3_metadqn.evaluation.transfer import run_transfer
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.checkpoints import Checkpoint
from tests.helpers import (
    TINY_ENV_ID,
    BadInput,
    bad_inputs,
    check_bad_input,
    write_pickle_bomb,
    write_unchecked,
)

NAV = gym_metatasks.family("MetaNav-v0")
EMBEDDED = Path(sb3_metadqn.pretrained.__file__).parent / "MetaNav-v0.safetensors"
NAN = float("nan")
CASES: list[BadInput] = []


# ---------------------------------------------------------------------- meta-training
CASES += bad_inputs(
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
CASES += bad_inputs(
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
CASES += bad_inputs(
    "meta_train-env",
    lambda p, v: meta_train(v, checkpoint_dir=p / "ck"),
    [
        ("NoSuchEnv-v0", ValueError, "env_id: env_id 'NoSuchEnv-v0' is not registered"),
        ("CartPole-v1", ValueError, "not a gym_metatasks family"),
    ],
)

# ---------------------------------------------------------------------- baselines
CASES += bad_inputs(
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
CASES += bad_inputs(
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
CASES += bad_inputs(
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
CASES += bad_inputs(
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
CASES += bad_inputs(
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
CASES += bad_inputs(
    "backend",
    lambda p, v: make_backend(*v),
    [
        (("local", -2), ValueError, "num_workers must be a positive int or None, got -2"),
        (("local", 2.5), ValueError, "num_workers must be a positive int or None, got 2.5"),
        (("cluster",), ValueError, "backend must be one of"),
    ],
)

# ---------------------------------------------------------------------- evaluation
CASES += bad_inputs(
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
    BadInput(
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


CASES += bad_inputs(
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


CASES += bad_inputs(
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
    BadInput(
        "artifact-pickle-bomb",
        lambda p: MetaLearner.load(write_pickle_bomb(p / "bomb.pkl")),
        ArtifactError,
        r"bomb.pkl'? is a Python pickle",
    )
)


def _write_nan(tmp: Path, document: dict[str, Any]) -> None:
    artifacts.write(tmp / "out.safetensors", {"w": torch.tensor([1.0, NAN])}, document)


CASES += bad_inputs(
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


CASES += bad_inputs(
    "checkpoint-config",
    lambda p, v: _config_json(p, v),
    [
        ("{broken", ValueError, r"ck/config.json' is not a run configuration .*delete"),
        ("[1, 2]", ValueError, r"ck/config.json' is not a run configuration .*a list"),
        ('"text"', ValueError, r"ck/config.json' is not a run configuration"),
        ('{"a": 2}', ValueError, r"holds a run with another configuration \(differs in \['a'\]\)"),
    ],
)


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_clearly_and_leaves_no_file(bad: BadInput, tmp_path: Path) -> None:
    check_bad_input(bad, tmp_path)
