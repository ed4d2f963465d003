"""Checkpoints that resume must not be trusted: a NaN chunk is recomputed, a corrupt state or
configuration is refused naming the file, and two runs sharing a directory agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from tests.helpers import tensors_equal, tiny_meta_train, write_unchecked

ROOT = Path(__file__).parents[1]


def _same(a: Any, b: Any) -> None:
    assert a.source_task_ids == b.source_task_ids
    assert tensors_equal(a.tensors(), b.tensors())


def test_a_nan_chunk_is_recomputed_and_a_corrupt_state_is_refused_naming_the_file(
    tmp_path: Path, tiny_learner: Any
) -> None:
    tiny_meta_train(checkpoint_dir=tmp_path)
    chunk = tmp_path / "sources" / "round000_chunk0000.safetensors"
    tensors, document = artifacts.read(chunk)
    poisoned = {k: v.clone() for k, v in tensors.items()}
    poisoned["0.layer0.weight"][0, 0] = float("nan")
    write_unchecked(chunk, poisoned, document)
    with pytest.warns(UserWarning, match=r"recomputing a corrupt chunk.*round000_chunk0000.*NaN"):
        resumed = tiny_meta_train(checkpoint_dir=tmp_path)
    _same(resumed, tiny_learner)
    assert tensors_equal(artifacts.read(chunk)[0], tensors)  # rewritten as it was

    state = tmp_path / "state.safetensors"
    state.write_bytes(state.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match=rf"delete '{state}' and rerun"):
        tiny_meta_train(checkpoint_dir=tmp_path)
    state.unlink()
    _same(tiny_meta_train(checkpoint_dir=tmp_path), tiny_learner)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"])
def test_a_corrupt_config_json_is_refused_naming_the_file(tmp_path: Path, content: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(content, encoding="latin-1")
    with pytest.raises(ValueError, match=rf"'{config}' is not a run configuration.*delete"):
        tiny_meta_train(checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_a_state_that_is_not_a_training_state_is_refused(tmp_path: Path) -> None:
    tiny_meta_train(checkpoint_dir=tmp_path, rounds=1, num_sources=4)
    state = tmp_path / "state.safetensors"
    artifacts.write(state, {"x": torch.zeros(1)}, {"kind": "source-chunk"})
    with pytest.raises(ArtifactError, match=r"missing the key|not a"):
        tiny_meta_train(checkpoint_dir=tmp_path, rounds=1, num_sources=4)


@pytest.mark.slow
def test_two_concurrent_runs_on_one_checkpoint_directory_agree(
    tmp_path: Path, tiny_learner: Any
) -> None:
    script = (
        "import sys, torch\n"
        "torch.set_num_threads(1)  # as in the test process (conftest.py)\n"
        "from tests.helpers import tiny_meta_train\n"
        "learner = tiny_meta_train(checkpoint_dir=sys.argv[1])\n"
        "learner.save(sys.argv[2])\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "ck"), str(tmp_path / f"{k}.st")],
            cwd=ROOT,
        )
        for k in range(2)
    ]
    assert [run.wait(timeout=600) for run in runs] == [0, 0]
    for k in range(2):
        tensors, _ = artifacts.read(tmp_path / f"{k}.st")
        assert tensors_equal(tensors, tiny_learner.tensors())
    assert not list((tmp_path / "ck").rglob("*.tmp"))
