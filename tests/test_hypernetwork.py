"""Hypernetwork initialization: the network, its fit on a bank, resume, persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gym_metatasks
from sb3_metadqn import ArtifactError, Initializer, WarmStartDQN
from sb3_metadqn.baselines.hypernetwork import HyperNetworkInit, hypernetwork_train
from sb3_metadqn.core.source_chunks import family_network, shared_init
from sb3_metadqn.nets import qnet
from sb3_metadqn.nets.hypernetwork import HyperNetwork
from tests.helpers import TINY_ENV_ID, layers_equal, tensors_equal, write_pickle_bomb

FAMILY = gym_metatasks.family(TINY_ENV_ID)
TINY = {
    "num_sources": 8,
    "chunk_size": 4,
    "source_timesteps": 100,
    "steps": 30,
    "hidden": (32,),
    "backend": "serial",
    "checkpoint_every": 10,
}


@pytest.fixture(scope="module")
def tiny_hypernetwork() -> HyperNetworkInit:
    return hypernetwork_train(TINY_ENV_ID, **TINY)


def test_untrained_network_emits_its_init_for_every_task() -> None:
    arch, _ = family_network(FAMILY, (64, 64))
    init = shared_init(arch, 0)
    network = HyperNetwork(arch, len(FAMILY.descriptor_names), (16,), init)
    descriptors = torch.as_tensor(
        np.stack([FAMILY.descriptor(t) for t in FAMILY.test_task_ids[:3]])
    )
    emitted = network(descriptors)
    for k in range(3):
        assert layers_equal([(w[k], b[k]) for w, b in emitted], init)


def test_fit_lowers_the_loss_and_initializes_dqn(tiny_hypernetwork: HyperNetworkInit) -> None:
    history = tiny_hypernetwork.training["history"]
    assert [h["step"] for h in history] == [10, 20, 30]
    assert history[-1]["loss"] < history[0]["loss"]
    cost = tiny_hypernetwork.training["cost"]
    assert cost["core_seconds"] == pytest.approx(
        cost["source_cpu_seconds"] + cost["fit_cpu_seconds"]
    )
    task = FAMILY.test_task_ids[0]
    model = WarmStartDQN("MlpPolicy", FAMILY.make(task), initializer=tiny_hypernetwork)
    expected, record = tiny_hypernetwork.initial_parameters(FAMILY.descriptor(task))
    assert layers_equal(qnet.get_layers(model.q_net), expected)
    assert record == {"selection": "hypernetwork"}
    other = tiny_hypernetwork.initial_parameters(FAMILY.descriptor(FAMILY.test_task_ids[1]))[0]
    assert not layers_equal(other, expected)


def test_same_seed_same_network(tiny_hypernetwork: HyperNetworkInit) -> None:
    again = hypernetwork_train(TINY_ENV_ID, **TINY)
    assert tensors_equal(again.tensors(), tiny_hypernetwork.tensors())


def test_resume_after_an_interruption_gives_the_same_network(
    tiny_hypernetwork: HyperNetworkInit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sb3_metadqn.baselines.hypernetwork as module

    original = module.q_value_losses
    calls = []

    def interrupted(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 15:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(module, "q_value_losses", interrupted)
    with pytest.raises(KeyboardInterrupt):
        hypernetwork_train(TINY_ENV_ID, checkpoint_dir=tmp_path, **TINY)
    monkeypatch.setattr(module, "q_value_losses", original)
    resumed = hypernetwork_train(TINY_ENV_ID, checkpoint_dir=tmp_path, **TINY)
    assert tensors_equal(resumed.tensors(), tiny_hypernetwork.tensors())


def test_resume_with_every_source_saved_and_no_fit_yet_gives_the_same_network(
    tiny_hypernetwork: HyperNetworkInit, tmp_path: Path
) -> None:
    hypernetwork_train(TINY_ENV_ID, checkpoint_dir=tmp_path, **TINY)
    (tmp_path / "state.safetensors").unlink()  # as if killed right after the last chunk
    torch.manual_seed(12345)  # whatever the global RNG holds must not matter
    resumed = hypernetwork_train(TINY_ENV_ID, checkpoint_dir=tmp_path, **TINY)
    assert tensors_equal(resumed.tensors(), tiny_hypernetwork.tensors())


def test_artifact_round_trip_and_bad_files(
    tiny_hypernetwork: HyperNetworkInit, tmp_path: Path
) -> None:
    from sb3_metadqn.io import artifacts

    path = tiny_hypernetwork.save(tmp_path / "hyper.safetensors")
    loaded = Initializer.load(path)
    assert isinstance(loaded, HyperNetworkInit)
    descriptor = FAMILY.descriptor(FAMILY.test_task_ids[0])
    assert layers_equal(
        loaded.initial_parameters(descriptor)[0],
        tiny_hypernetwork.initial_parameters(descriptor)[0],
    )
    document = {**tiny_hypernetwork.document(), "hidden": [64]}
    bad = artifacts.write(tmp_path / "bad.safetensors", tiny_hypernetwork.tensors(), document)
    with pytest.raises(ArtifactError, match="the hypernetwork does not fit"):
        HyperNetworkInit.load(bad)
    pickle = write_pickle_bomb(tmp_path / "hyper.pkl")
    with pytest.raises(ArtifactError, match="pickle"):
        Initializer.load(pickle)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"task_ids": [FAMILY.test_task_ids[0], 1]}, ValueError, "held out for evaluation"),
        ({"steps": 0}, ValueError, "steps must be a positive int, got 0"),
        ({"hidden": ()}, ValueError, "hidden must be one or more positive widths"),
        (
            {"learning_rate": -1.0},
            ValueError,
            r"learning_rate must be a finite number in \(0, 1\], got -1.0",
        ),
        ({"hiden": (8,)}, TypeError, "unexpected keyword argument 'hiden'"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        hypernetwork_train(TINY_ENV_ID, **{**TINY, **kwargs})


def test_the_planner_starts_at_the_init_and_writes_only_the_first_layer() -> None:
    arch, _ = family_network(FAMILY, (64, 64))
    init = shared_init(arch, 0)
    planner = {"grid_size": FAMILY.size, "channels": 4, "iterations": 3}
    network = HyperNetwork(arch, len(FAMILY.descriptor_names), (16,), init, planner)
    descriptors = torch.as_tensor(
        np.stack([FAMILY.descriptor(t) for t in FAMILY.test_task_ids[:2]])
    )
    assert layers_equal([(w[0], b[0]) for w, b in network(descriptors)], init)
    with torch.no_grad():
        network.cell_head.bias.fill_(0.5)  # the planner's cell columns now add 0.5
    emitted = network(descriptors)
    (w0, b0), *rest = emitted
    torch.testing.assert_close(w0[1], init[0][0] + 0.5)
    assert torch.equal(b0[1], init[0][1])
    assert layers_equal([(w[1], b[1]) for w, b in rest], init[1:])


def test_planner_hypernetwork_round_trips_and_says_so(tmp_path: Path) -> None:
    trained = hypernetwork_train(
        TINY_ENV_ID, **{**TINY, "planner": True, "planner_iterations": 3, "steps": 10}
    )
    assert trained.network.planner is not None
    assert trained.info()["planner"] is True
    path = trained.save(tmp_path / "hyper.safetensors")
    loaded = Initializer.load(path)
    assert isinstance(loaded, HyperNetworkInit)
    assert loaded.info()["planner"] is True
    d = FAMILY.descriptor(FAMILY.test_task_ids[0])
    assert layers_equal(loaded.initial_parameters(d)[0], trained.initial_parameters(d)[0])


def test_planner_needs_a_grid_family() -> None:
    with pytest.raises(ValueError, match="planner=True needs a grid family"):
        hypernetwork_train("MetaCartPole-v0", planner=True, num_sources=2, steps=1)


def test_sources_above_the_q_limit_are_left_out_of_the_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sb3_metadqn.core import source_chunks

    task_ids = [int(t) for t in FAMILY.train_task_ids[:4]]
    monkeypatch.setattr(
        source_chunks,
        "source_q_ratio",
        lambda result, activation, gamma: 9.0 if result.task_id == task_ids[0] else 0.0,
    )
    plain = {**TINY, "num_sources": None, "task_ids": task_ids, "steps": 2}
    fitted = hypernetwork_train(TINY_ENV_ID, **plain, source_q_limit=2.0)
    assert fitted.training["bank_sources"] == 4
    assert fitted.training["fit_sources"] == 3
    assert fitted.training["config"]["source_q_limit"] == 2.0
    unscreened = hypernetwork_train(TINY_ENV_ID, **plain)
    assert unscreened.training["fit_sources"] == 4
    assert "source_q_limit" not in unscreened.training["config"]
    with pytest.raises(ValueError, match="source_q_limit must be a finite number > 0 or None"):
        hypernetwork_train(TINY_ENV_ID, **plain, source_q_limit=-1.0)
