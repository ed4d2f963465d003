"""Pickle-free model files: MetaDQN, WarmStartDQN and TaskConditionedDQN saved as safetensors
plus JSON and loaded back exactly, without unpickling; bad files and envs refused by name."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gym_metatasks
import sb3_metadqn.pretrained
from sb3_metadqn import ArtifactError, MetaDQN, TaskConditionedDQN, WarmStartDQN
from sb3_metadqn.cli import main
from sb3_metadqn.io import artifacts
from tests.helpers import tensors_equal, write_pickle_bomb

NAV = gym_metatasks.family("MetaNav-v0")
TASK = NAV.test_task_ids[0]
EMBEDDED = Path(sb3_metadqn.pretrained.__file__).parent / "MetaNav-v0.safetensors"


def _same_model(a: Any, b: Any) -> None:
    assert tensors_equal(a.policy.state_dict(), b.policy.state_dict())
    assert (a._anchor is None) == (b._anchor is None)
    assert all(torch.equal(x, y) for x, y in zip(a._anchor or [], b._anchor or [], strict=True))
    assert a.meta_init == b.meta_init
    assert a.num_timesteps == b.num_timesteps
    assert a.exploration_rate == b.exploration_rate


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    model = MetaDQN("MlpPolicy", NAV.make(TASK), seed=0, learning_starts=10, buffer_size=500)
    model.learn(120)
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    model.save(path)
    return model, path


def test_a_metadqn_model_file_loads_back_exactly_and_continues(trained: tuple[Any, Path]) -> None:
    model, path = trained
    loaded = MetaDQN.load(path, env=NAV.make(TASK))
    _same_model(model, loaded)
    assert loaded.initializer is not None
    assert model.initializer is not None
    assert tensors_equal(loaded.initializer.tensors(), model.initializer.tensors())
    assert loaded.learning_rate == model.learning_rate
    assert loaded.train_freq == model.train_freq
    states = np.eye(64, dtype=np.float32)
    np.testing.assert_array_equal(
        loaded.predict(states, deterministic=True)[0], model.predict(states, deterministic=True)[0]
    )
    loaded.learn(20, reset_num_timesteps=False)
    assert loaded.num_timesteps == model.num_timesteps + 20


def test_a_model_file_loads_without_an_env_for_prediction(trained: tuple[Any, Path]) -> None:
    model, path = trained
    loaded = MetaDQN.load(path)
    states = np.eye(64, dtype=np.float32)
    np.testing.assert_array_equal(
        loaded.predict(states, deterministic=True)[0], model.predict(states, deterministic=True)[0]
    )


def test_a_model_file_is_a_safetensors_artifact_not_a_zip(trained: tuple[Any, Path]) -> None:
    _, path = trained
    assert not zipfile.is_zipfile(path)
    tensors, document = artifacts.read(path)
    assert document["kind"] == "dqn-model"
    assert document["class"] == "MetaDQN"
    assert any(name.startswith("policy.q_net.") for name in tensors)


def test_task_conditioned_and_warm_start_model_files_round_trip(tmp_path: Path) -> None:
    tc = TaskConditionedDQN("MultiInputPolicy", NAV.make(TASK), seed=0, learning_starts=10)
    tc.learn(60)
    tc.save(tmp_path / "tc.safetensors")
    loaded_tc = TaskConditionedDQN.load(tmp_path / "tc.safetensors", env=NAV.make(TASK))
    _same_model(tc, loaded_tc)

    embedded = EMBEDDED
    ws = WarmStartDQN("MlpPolicy", NAV.make(TASK), initializer=embedded, seed=0)
    ws.save(tmp_path / "ws.safetensors")
    _same_model(ws, WarmStartDQN.load(tmp_path / "ws.safetensors", env=NAV.make(TASK)))


def test_loading_never_unpickles(tmp_path: Path) -> None:
    bomb = write_pickle_bomb(tmp_path / "model.safetensors")
    with pytest.raises(ArtifactError, match=r"model.safetensors'? is a Python pickle"):
        MetaDQN.load(bomb)


def test_model_files_name_what_is_wrong(trained: tuple[Any, Path], tmp_path: Path) -> None:
    _, path = trained
    with pytest.raises(ArtifactError, match=r"holds a MetaDQN; load it with MetaDQN\.load"):
        WarmStartDQN.load(path)
    with pytest.raises(
        ValueError,
        match=rf"env holds task \[{TASK + 1}\] but the model was initialized for task {TASK}",
    ):
        MetaDQN.load(path, env=NAV.make(TASK + 1))
    embedded = EMBEDDED
    with pytest.raises(ArtifactError, match="holds a 'meta-learner' artifact, not a model"):
        MetaDQN.load(embedded)
    garbage = tmp_path / "model.zip"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match=rf"'{garbage}' is not a model file"):
        MetaDQN.load(garbage)
    with pytest.raises(FileNotFoundError, match=r"no model file at path="):
        MetaDQN.load(tmp_path / "missing.zip")


def test_what_only_a_pickle_stores_is_refused_before_writing(tmp_path: Path) -> None:
    model = MetaDQN("MlpPolicy", NAV.make(TASK), seed=0, learning_rate=lambda progress: 1e-4)
    with pytest.raises(ValueError, match="learning_rate is a schedule"):
        model.save(tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_a_zip_loaded_with_an_env_of_another_task_is_refused(tmp_path: Path) -> None:
    model = MetaDQN("MlpPolicy", NAV.make(TASK), seed=0)
    model.save(tmp_path / "m.zip")
    with pytest.raises(ValueError, match=rf"initialized for task {TASK}"):
        MetaDQN.load(tmp_path / "m.zip", env=NAV.make(TASK + 1))
    assert MetaDQN.load(tmp_path / "m.zip", env=NAV.make(TASK)).meta_init == model.meta_init


def test_metadqn_info_describes_a_model_file(
    trained: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model, path = trained
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["class"] == "MetaDQN"
    assert info["num_timesteps"] == model.num_timesteps
    assert info["initializer"] == "meta-learner"
    assert info["meta_init"] == model.meta_init
