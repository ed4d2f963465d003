"""Reptile initialization: meta-training, determinism, resume, persistence, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gym_metatasks
from sb3_metadqn import ArtifactError, Initializer, WarmStartDQN
from sb3_metadqn.baselines.reptile import ReptileInit, reptile_train
from sb3_metadqn.core.source_chunks import family_network, shared_init
from sb3_metadqn.nets import qnet
from tests.helpers import TINY_ENV_ID, layers_equal

FAMILY = gym_metatasks.family(TINY_ENV_ID)
TINY = {"iterations": 6, "meta_batch_size": 3, "inner_steps": 8, "seed": 0}


@pytest.fixture(scope="module")
def tiny_reptile() -> ReptileInit:
    return reptile_train(TINY_ENV_ID, **TINY)  # type: ignore[arg-type]


def test_moves_away_from_the_shared_init_and_initializes_dqn(tiny_reptile: ReptileInit) -> None:
    arch, _ = family_network(FAMILY, (64, 64))
    assert not layers_equal(tiny_reptile.layers, shared_init(arch, 0))
    task = FAMILY.test_task_ids[0]
    model = WarmStartDQN("MlpPolicy", FAMILY.make(task), initializer=tiny_reptile)
    assert layers_equal(qnet.get_layers(model.q_net), tiny_reptile.layers)
    assert model.meta_init is not None
    assert model.meta_init["selection"] == "reptile"
    assert tiny_reptile.training["cost"]["core_seconds"] > 0
    assert tiny_reptile.training["config"]["inner_method"] == "oracle"


def test_same_seed_same_result_other_seed_differs(tiny_reptile: ReptileInit) -> None:
    again = reptile_train(TINY_ENV_ID, **TINY)  # type: ignore[arg-type]
    assert layers_equal(again.layers, tiny_reptile.layers)
    other = reptile_train(TINY_ENV_ID, **{**TINY, "seed": 1})  # type: ignore[arg-type]
    assert not layers_equal(other.layers, tiny_reptile.layers)


def test_resume_after_an_interruption_gives_the_same_result(
    tiny_reptile: ReptileInit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sb3_metadqn.baselines.reptile as reptile

    calls = []
    original = reptile.train_sources

    def interrupted(job: Any) -> Any:
        calls.append(job)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(job)

    monkeypatch.setattr(reptile, "train_sources", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reptile_train(TINY_ENV_ID, checkpoint_dir=tmp_path, checkpoint_every=2, **TINY)  # type: ignore[arg-type]
    assert (tmp_path / "reptile_state.safetensors").exists()
    monkeypatch.setattr(reptile, "train_sources", original)
    resumed = reptile_train(TINY_ENV_ID, checkpoint_dir=tmp_path, checkpoint_every=2, **TINY)  # type: ignore[arg-type]
    assert layers_equal(resumed.layers, tiny_reptile.layers)
    with pytest.raises(ValueError, match="holds a run with another configuration"):
        reptile_train(TINY_ENV_ID, checkpoint_dir=tmp_path, **{**TINY, "seed": 5})  # type: ignore[arg-type]


def test_artifact_round_trip(tiny_reptile: ReptileInit, tmp_path: Path) -> None:
    path = tiny_reptile.save(tmp_path / "reptile.safetensors")
    loaded = Initializer.load(path)
    assert isinstance(loaded, ReptileInit)
    assert layers_equal(loaded.layers, tiny_reptile.layers)
    assert loaded.training == tiny_reptile.training


def test_artifact_with_wrong_shapes_is_refused(tiny_reptile: ReptileInit, tmp_path: Path) -> None:
    from sb3_metadqn.io import artifacts

    tensors = tiny_reptile.tensors()
    tensors["layers.0.weight"] = tensors["layers.0.weight"][:, :3]
    path = artifacts.write(tmp_path / "bad.safetensors", tensors, tiny_reptile.document())
    with pytest.raises(ArtifactError, match="layer 0 has shapes"):
        ReptileInit.load(path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task_ids": [FAMILY.test_task_ids[0]]}, "held out for evaluation"),
        ({"iterations": 0}, "iterations must be a positive int, got 0"),
        ({"outer_step_size": 1.5}, r"outer_step_size must be a finite number in \(0, 1\], got 1.5"),
        ({"inner_method": "sgd"}, "inner_method must be 'auto', 'oracle' or 'dqn', got 'sgd'"),
        ({"checkpoint_every": 0}, "checkpoint_every must be a positive int, got 0"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reptile_train(TINY_ENV_ID, **kwargs)


def test_oracle_inner_loop_needs_an_exact_oracle() -> None:
    with pytest.raises(ValueError, match="needs an exact oracle; MetaCartPole-v0 has none"):
        reptile_train("MetaCartPole-v0", inner_method="oracle")


@pytest.mark.slow
def test_dqn_inner_loop_on_a_physics_family() -> None:
    init = reptile_train(
        "MetaCartPole-v0",
        iterations=2,
        meta_batch_size=2,
        inner_steps=300,
        dqn_kwargs={"learning_starts": 100},
        backend="serial",
    )
    assert init.training["config"]["inner_method"] == "dqn"
    env = gym_metatasks.family("MetaCartPole-v0").make(400)
    model = WarmStartDQN("MlpPolicy", env, initializer=init)
    assert layers_equal(qnet.get_layers(model.q_net), init.layers)
