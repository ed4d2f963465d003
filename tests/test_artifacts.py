"""Meta-learner artifacts: round trip, and every way a file can be wrong."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from sb3_metadqn import ArtifactError, MetaLearner
from sb3_metadqn.io import artifacts
from tests.helpers import write_pickle_bomb, write_unchecked


def test_round_trip(tiny_learner: Any, tmp_path: Path) -> None:
    path = tiny_learner.save(tmp_path / "ml.safetensors")
    loaded = MetaLearner.load(path)
    assert loaded.document()["source_task_ids"] == tiny_learner.source_task_ids
    assert loaded.family_key == tiny_learner.family_key
    for name, tensor in tiny_learner.tensors().items():
        torch.testing.assert_close(loaded.tensors()[name], tensor, rtol=0, atol=0)
    d = torch.rand(loaded.descriptor_dim).numpy()
    a, _ = tiny_learner.initial_parameters(d)
    b, _ = loaded.initial_parameters(d)
    for (w1, b1), (w2, b2) in zip(a, b, strict=True):
        torch.testing.assert_close(w1, w2, rtol=0, atol=0)
        torch.testing.assert_close(b1, b2, rtol=0, atol=0)


def test_training_record_is_in_the_artifact(tiny_artifact: Path) -> None:
    info = MetaLearner.load(tiny_artifact).info()
    assert info["training"]["config"]["num_sources"] == 8
    assert info["training"]["cost"]["core_seconds"] > 0
    assert info["source_methods"] == ["oracle"]


def test_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = write_pickle_bomb(tmp_path / "evil.safetensors")
    with pytest.raises(ArtifactError, match="pickle"):
        MetaLearner.load(path)


@pytest.mark.parametrize("keep", [0, 7, 100, -1])
def test_truncated_file(tiny_artifact: Path, tmp_path: Path, keep: int) -> None:
    data = tiny_artifact.read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:keep] if keep >= 0 else data[:-10])
    with pytest.raises(ArtifactError, match=r"truncated|corrupted"):
        MetaLearner.load(path)


def test_corrupted_header(tiny_artifact: Path, tmp_path: Path) -> None:
    data = bytearray(tiny_artifact.read_bytes())
    data[10:20] = b"\xff" * 10
    path = tmp_path / "bad.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"corrupted|truncated"):
        MetaLearner.load(path)


def test_nan_weights_are_refused(tiny_learner: Any, tmp_path: Path) -> None:
    tensors = dict(tiny_learner.tensors())
    tensors["sources.0.weight"] = tensors["sources.0.weight"].clone()
    tensors["sources.0.weight"][0, 0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    with pytest.raises(
        ArtifactError, match=r"nan.safetensors'?: tensor 'sources.0.weight' holds NaN"
    ):
        artifacts.write(path, tensors, tiny_learner.document())
    assert not list(tmp_path.iterdir())
    write_unchecked(path, tensors, tiny_learner.document())
    with pytest.raises(ArtifactError, match=r"tensor 'sources\.0\.weight' holds NaN"):
        MetaLearner.load(path)


@pytest.mark.parametrize("key", ["architecture", "family_key", "descriptor_names"])
def test_missing_key(tiny_learner: Any, tmp_path: Path, key: str) -> None:
    document = tiny_learner.document()
    del document[key]
    path = artifacts.write(tmp_path / "m.safetensors", tiny_learner.tensors(), document)
    with pytest.raises(ArtifactError, match=f"missing the key '{key}'"):
        MetaLearner.load(path)


def test_missing_tensor(tiny_learner: Any, tmp_path: Path) -> None:
    tensors = dict(tiny_learner.tensors())
    del tensors["shared_init.0.bias"]
    path = artifacts.write(tmp_path / "m.safetensors", tensors, tiny_learner.document())
    with pytest.raises(ArtifactError, match=r"shared_init\.0\.bias"):
        MetaLearner.load(path)


def test_wrong_shapes(tiny_learner: Any, tmp_path: Path) -> None:
    tensors = dict(tiny_learner.tensors())
    tensors["sources.1.weight"] = tensors["sources.1.weight"][:, :, :3].contiguous()
    path = artifacts.write(tmp_path / "m.safetensors", tensors, tiny_learner.document())
    with pytest.raises(ArtifactError, match="source layer 1 has shape"):
        MetaLearner.load(path)


def test_plain_safetensors_without_document(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ArtifactError, match="without a 'metadqn' document"):
        MetaLearner.load(path)


def test_other_kind_is_refused(tiny_learner: Any, tmp_path: Path) -> None:
    document = {**tiny_learner.document(), "kind": "source-chunk"}
    path = artifacts.write(tmp_path / "k.safetensors", tiny_learner.tensors(), document)
    with pytest.raises(ArtifactError, match="not a 'meta-learner'"):
        MetaLearner.load(path)


def test_future_format_version(tiny_learner: Any, tmp_path: Path) -> None:
    data = artifacts.encode(tiny_learner.tensors(), tiny_learner.document())
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    meta = json.loads(header["__metadata__"]["metadqn"])
    meta["format_version"] = 99
    header["__metadata__"]["metadqn"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    path = tmp_path / "v99.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])
    with pytest.raises(ArtifactError, match="format_version 99"):
        MetaLearner.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no artifact at path"):
        MetaLearner.load(tmp_path / "nothing.safetensors")


def test_unwritable_output_path_leaves_nothing(tiny_learner: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot write artifact to path="):
        tiny_learner.save(blocker / "sub" / "ml.safetensors")
    assert blocker.read_text() == "x"


def test_save_is_atomic_over_an_existing_file(tiny_learner: Any, tmp_path: Path) -> None:
    path = tmp_path / "ml.safetensors"
    tiny_learner.save(path)
    tiny_learner.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["ml.safetensors"]
    MetaLearner.load(path)


def test_bank_selection_nearest_and_k_nearest(tiny_learner: Any) -> None:
    own = tiny_learner.source_descriptors[2].numpy()
    indices, distances = tiny_learner.nearest(own, k=3)
    assert indices[0] == 2
    assert distances[0] == 0.0
    assert distances == sorted(distances)
    assert len(indices) == 3
    _, record = tiny_learner.initial_parameters(own)
    assert record["source_task_id"] == tiny_learner.source_task_ids[2]
    assert record["descriptor_distance"] == 0.0
    assert record["selection"] == "nearest"
