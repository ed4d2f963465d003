"""Meta-training: bad input, backends agree, a killed run resumes without losing sources."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gym_metatasks
from sb3_metadqn import MapperConfig, MappingNetwork, meta_train
from sb3_metadqn.core.mapper_guard import agreement_guard, keep_or_reset, validation_guard
from sb3_metadqn.nets import qnet
from tests.helpers import TINY_ENV_ID, layers_equal, tensors_equal, tiny_meta_train

FAMILY = gym_metatasks.family(TINY_ENV_ID)


def same(a: Any, b: Any) -> None:
    assert a.source_task_ids == b.source_task_ids
    assert tensors_equal(a.tensors(), b.tensors())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"env_id": "NoSuchEnv-v0"}, ValueError, "env_id: env_id 'NoSuchEnv-v0' is not registered"),
        ({"env_id": "CartPole-v1"}, ValueError, "not a gym_metatasks family"),
        ({"num_sources": 0}, ValueError, "num_sources must be a positive int or None, got 0"),
        ({"task_ids": []}, ValueError, "num_sources must be >= 2"),
        (
            {"task_ids": [FAMILY.test_task_ids[0], FAMILY.train_task_ids[0]]},
            ValueError,
            "must be train-split tasks",
        ),
        ({"source_method": "magic"}, ValueError, "source_method must be"),
        (
            {"env_id": "MetaCartPole-v0", "source_method": "oracle"},
            ValueError,
            "needs an exact oracle",
        ),
        ({"backend": "cloud"}, ValueError, "backend must be one of"),
        ({"env_id": "MetaCartPole-v0", "planner": True}, ValueError, "planner=True needs a grid"),
        ({"planner": "yes"}, ValueError, "planner must be True, False or None"),
        ({"guard_probe": (3,)}, ValueError, r"guard_probe must be \(k, e\).*got \(3,\)"),
        ({"guard_probe": 3}, ValueError, r"guard_probe must be \(k, e\).*got 3$"),
        ({"guard_probe": (3, 0)}, ValueError, r"two ints >= 1, or None; got \(3, 0\)"),
        ({"guard_episodes": 0}, ValueError, "guard_episodes must be a positive int, got 0"),
        (
            {"source_q_limit": 0},
            ValueError,
            "source_q_limit must be a finite number > 0 or None, got 0",
        ),
        (
            {"guard_probe": (3, 1), "guard": "agreement"},
            ValueError,
            r"guard_probe=\(3, 1\) needs guard='validation'.*the guard is 'agreement'",
        ),
    ],
)
def test_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args = {
        "env_id": TINY_ENV_ID,
        "num_sources": 4,
        "mapper_steps": 1,
        "source_timesteps": 5,
        "backend": "serial",
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        meta_train(**args)


def test_unwritable_checkpoint_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=r"checkpoint_dir=.* cannot be written"):
        tiny_meta_train(checkpoint_dir=blocker / "ck")


def test_checkpoint_dir_of_another_run_is_refused(tmp_path: Path) -> None:
    tiny_meta_train(checkpoint_dir=tmp_path, num_sources=4, mapper_steps=2)
    with pytest.raises(ValueError, match="holds a run with another configuration"):
        tiny_meta_train(checkpoint_dir=tmp_path, num_sources=4, mapper_steps=3)


def test_sources_are_train_split_and_share_an_origin(tiny_learner: Any) -> None:
    train = set(FAMILY.train_task_ids)
    assert set(tiny_learner.source_task_ids) <= train
    assert not set(tiny_learner.source_task_ids) & set(FAMILY.validation_task_ids)
    assert all(p["method"] == "oracle" for p in tiny_learner.source_provenance)
    assert tiny_learner.training["bank_sources"] == 8
    assert len(tiny_learner.training["history"]) == 2  # one entry per round


def test_the_whole_train_split_and_no_validation_task_by_default() -> None:
    from sb3_metadqn.core.meta_config import MetaTrainConfig, resolve_config

    resolved, _ = resolve_config(MetaTrainConfig(env_id=TINY_ENV_ID))
    assert resolved.num_sources == len(FAMILY.train_task_ids)
    named = resolve_config(MetaTrainConfig(TINY_ENV_ID, task_ids=FAMILY.validation_task_ids[:3]))
    assert named[0].num_sources == 3  # validation tasks are used only when named


def test_the_planner_is_a_recorded_switch(tiny_learner: Any) -> None:
    assert tiny_learner.training["config"]["planner"] is True  # grid family, oracle sources
    assert tiny_learner.mapper.planner is not None
    assert tiny_learner.info()["planner"] is True
    off = tiny_meta_train(planner=False, num_sources=4, mapper_steps=2)
    assert off.training["config"]["planner"] is False
    assert off.mapper.config.grid_size is None
    assert off.mapper.planner is None
    assert off.info()["planner"] is False
    # same sources: the planner changes the mapping network, not the bank
    assert off.source_task_ids == tiny_meta_train(num_sources=4, mapper_steps=2).source_task_ids


def test_same_seed_same_learner(tiny_learner: Any) -> None:
    same(tiny_meta_train(), tiny_learner)


def test_local_process_pool_matches_serial(tiny_learner: Any) -> None:
    same(tiny_meta_train(backend="local", num_workers=2), tiny_learner)


@pytest.mark.slow  # Ray's start-up; the default run checks the same with the local pool
def test_local_ray_matches_serial(tiny_learner: Any) -> None:
    ray = pytest.importorskip("ray")
    try:
        same(tiny_meta_train(backend="ray", num_workers=2), tiny_learner)
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_cluster_address_matches_serial(tiny_learner: Any) -> None:
    """Against an existing cluster: a head node started outside this process."""
    ray = pytest.importorskip("ray")
    import tempfile

    ray_bin = Path(sys.executable).parent / "ray"
    port = "6391"
    # Ray's Unix sockets live under RAY_TMPDIR: keep the path short (pytest's tmp_path is not).
    env = {**os.environ, "RAY_TMPDIR": tempfile.mkdtemp(prefix="ray", dir="/tmp")}
    start = [str(ray_bin), "start", "--head", "--port", port, "--num-cpus", "2"]
    start += ["--node-ip-address", "127.0.0.1", "--include-dashboard", "false"]
    proc = subprocess.run(start, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        same(tiny_meta_train(backend="ray", ray_address=f"127.0.0.1:{port}"), tiny_learner)
    finally:
        ray.shutdown()
        subprocess.run([str(ray_bin), "stop", "--force"], env=env, capture_output=True)


def test_resume_after_sigkill(tmp_path: Path, tiny_learner: Any) -> None:
    """Kill a run once its first chunk is on disk; the rerun finishes with the same result
    and reuses every finished chunk."""
    checkpoint = tmp_path / "ck"
    script = (
        ""
        "import time, sb3_metadqn.core.source_training as st\n"
        "original = st.train_sources\n"
        "def slow(job):\n"
        "    out = original(job)\n"
        "    if job.task_ids[0] != FIRST: time.sleep(60)\n"
        "    return out\n"
        "st.train_sources = slow\n"
        "import sb3_metadqn.core.meta_training as mt; mt.train_sources = slow\n"
        "from tests.helpers import tiny_meta_train\n"
        f"tiny_meta_train(checkpoint_dir={str(checkpoint)!r})\n"
    )
    first = tiny_learner.training["config"]
    order = [int(t) for t in FAMILY.sample_task_ids(first["num_sources"], split="train", rng=0)]
    proc = subprocess.Popen(
        [sys.executable, "-c", f"FIRST = {order[0]}\n" + script], cwd=Path(__file__).parents[1]
    )
    sources = checkpoint / "sources"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        sources.exists() and any(sources.glob("*.safetensors"))
    ):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = sorted(p.name for p in sources.glob("*.safetensors"))
    assert saved, "the first chunk never reached the checkpoint"
    stamps = {p.name: p.stat().st_mtime_ns for p in sources.glob("*.safetensors")}
    resumed = tiny_meta_train(checkpoint_dir=checkpoint)
    same(resumed, tiny_learner)
    for name, stamp in stamps.items():
        assert (sources / name).stat().st_mtime_ns == stamp, f"{name} was retrained"
    assert not list(checkpoint.rglob("*.tmp"))


def test_resume_of_a_finished_run_trains_nothing(
    tmp_path: Path, tiny_learner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_meta_train(checkpoint_dir=tmp_path)
    import sb3_metadqn.core.source_chunks as bank

    calls = []
    original = bank.train_sources
    monkeypatch.setattr(bank, "train_sources", lambda job: calls.append(job) or original(job))
    same(tiny_meta_train(checkpoint_dir=tmp_path), tiny_learner)
    assert calls == []


def test_the_learner_keeps_the_farthest_point_subset_of_the_sampled_sources(
    tiny_learner: Any,
) -> None:
    """8 sampled train tasks get a source; the 6 kept are chosen greedily by descriptor
    distance (the first sampled task, then each time the one farthest from those kept)."""
    sampled = [int(t) for t in FAMILY.sample_task_ids(8, split="train", rng=0)]
    descriptors = np.stack([FAMILY.descriptor(t) for t in sampled]).astype(np.float64)
    kept = [0]
    while len(kept) < 6:
        nearest_kept = np.min(
            [np.linalg.norm(descriptors - descriptors[k], axis=1) for k in kept], axis=0
        )
        kept.append(int(nearest_kept.argmax()))
    assert tiny_learner.source_task_ids == [sampled[k] for k in sorted(kept)]
    np.testing.assert_array_equal(
        tiny_learner.source_descriptors.numpy(),
        np.stack([FAMILY.descriptor(t) for t in tiny_learner.source_task_ids]),
    )
    assert tiny_learner.env_id == TINY_ENV_ID
    assert tiny_learner.family_key == FAMILY.key
    assert tiny_learner.descriptor_names == list(FAMILY.descriptor_names)
    # SB3's MlpPolicy on one-hot cells: 25 inputs, 64 x 64 hidden, 4 actions
    assert [tuple(w.shape) for w, _ in tiny_learner.source_layers] == [
        (6, 64, 25),
        (6, 64, 64),
        (6, 4, 64),
    ]


def test_dqn_sources_on_a_physics_family_checkpoint_and_resume(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {
        "num_sources": 3,
        "rounds": 2,
        "chunk_size": 2,
        "source_timesteps": 300,
        "mapper_steps": 4,
        "keep_sources": None,
        "backend": "serial",
        "dqn_kwargs": {"learning_starts": 100, "train_freq": 4, "buffer_size": 1000},
        "checkpoint_dir": tmp_path,
    }
    first = meta_train("MetaCartPole-v0", **kwargs)
    assert all(p["method"] == "dqn" for p in first.source_provenance)
    assert first.mapper.planner is None
    selection = first.training["mapper_selection"]
    assert selection["guard"] == "validation"
    assert selection["validation_tasks"] == len(
        gym_metatasks.family("MetaCartPole-v0").validation_task_ids
    )
    assert selection["kept"] == (
        "fitted" if selection["fitted_return"] > selection["identity_return"] else "identity"
    )
    assert len(list((tmp_path / "sources").glob("*.safetensors"))) == 2
    same(meta_train("MetaCartPole-v0", **kwargs), first)


def test_an_untrained_mapper_ties_with_the_identity_and_the_identity_is_kept() -> None:
    """With no mapping network step the mapping network is the identity (zero-initialized heads), so
    both agreements are the same number and the tie goes to the identity."""
    learner = tiny_meta_train(num_sources=4, mapper_steps=0)
    selection = learner.training["mapper_selection"]
    assert selection["fitted_agreement"] == selection["identity_agreement"]
    assert 0.0 < selection["identity_agreement"] <= 1.0
    assert selection["kept"] == "identity"
    d = FAMILY.descriptor(FAMILY.test_task_ids[0])
    assert layers_equal(learner.map_source(d, 1), qnet.index(learner.source_layers, 1))


def _two_source_bank(
    negated: bool,
) -> tuple[qnet.Architecture, torch.Tensor, qnet.Layers, dict[str, torch.Tensor]]:
    """Two sources of a 3-input, 2-action network: the second is the first, with its output
    layer negated (so its greedy action is the other one in every probe state) or not."""
    arch = qnet.Architecture(obs_dim=3, net_arch=(4,), num_actions=2)
    gen = torch.Generator().manual_seed(0)
    first = [
        (torch.randn(o, i, generator=gen), torch.randn(o, generator=gen))
        for o, i in arch.layer_shapes
    ]
    (w0, b0), (w1, b1) = first
    second = [(w0, b0), (-w1, -b1)] if negated else first
    probes, transitions = 16, 8
    data = {
        "fit_obs": torch.rand(2, probes, 3, generator=gen),
        "fit_mask": torch.ones(2, probes, dtype=torch.bool),
        "obs": torch.rand(2, transitions, 3, generator=gen),
        "action": torch.zeros(2, transitions, dtype=torch.long),
        "reward": torch.zeros(2, transitions),
        "next_obs": torch.rand(2, transitions, 3, generator=gen),
        "terminated": torch.zeros(2, transitions),
        "transition_mask": torch.ones(2, transitions, dtype=torch.bool),
    }
    descriptors = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    return arch, descriptors, qnet.stack([first, second]), data


def _negating_mapper(arch: qnet.Architecture, descriptor_dim: int = 2) -> MappingNetwork:
    """A mapper whose output layer map is A = I + diag(-2) = -I: it negates the Q-values."""
    mapper = MappingNetwork(arch, descriptor_dim, MapperConfig(rank=2, hidden=8, embedding=4))
    with torch.no_grad():
        mapper.heads[-1].bias[: arch.num_actions] = -2.0
    return mapper


@pytest.mark.parametrize(
    ("negated", "identity", "fitted", "kept"),
    [(True, 0.0, 1.0, "fitted"), (False, 1.0, 0.0, "identity")],
)
def test_the_mapper_is_kept_only_when_it_agrees_more_than_the_identity(
    negated: bool, identity: float, fitted: float, kept: str
) -> None:
    """On a bank whose two sources pick opposite greedy actions everywhere, the identity
    agrees nowhere and a Q-negating mapper everywhere; on a bank of two equal sources it is
    the other way round, and the mapping network is reset to the identity."""
    arch, descriptors, layers, data = _two_source_bank(negated)
    mapper = _negating_mapper(arch)
    selection = keep_or_reset(
        mapper, agreement_guard(mapper, descriptors, layers, data, arch, gamma=0.99)
    )
    assert selection == {
        "guard": "agreement",
        "identity_agreement": identity,
        "fitted_agreement": fitted,
        "kept": kept,
    }
    mapped = mapper(descriptors[:1], descriptors[1:], qnet.index(layers, torch.tensor([1])))
    w, b = qnet.index(layers, 1)[-1]  # the second source's output layer
    sign = -1.0 if kept == "fitted" else 1.0  # a mapping network not kept is reset to the identity
    torch.testing.assert_close(mapped[-1][0][0], sign * w)
    torch.testing.assert_close(mapped[-1][1][0], sign * b)


@pytest.mark.parametrize(("negated", "kept"), [(False, "identity"), (True, "fitted")])
def test_the_validation_guard_keeps_the_start_with_the_higher_validation_return(
    negated: bool, kept: str
) -> None:
    """One source, the rule "push the way the car moves" (or its opposite) and a mapper that
    negates Q-values: the guard keeps whichever start reaches the flag on the validation
    tasks."""
    family = gym_metatasks.family("MetaMountainCar-v0")
    arch = qnet.Architecture(obs_dim=2, net_arch=(2,), num_actions=3)
    velocity = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    out = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]) * (-1.0 if negated else 1.0)
    layers = qnet.stack([[(velocity, torch.zeros(2)), (out, torch.zeros(3))]])
    descriptors = torch.full((1, 2), 0.5)
    mapper = _negating_mapper(arch)
    figures = validation_guard(mapper, descriptors, layers, family, arch)
    assert figures["validation_tasks"] == len(family.validation_task_ids)
    assert abs(figures["fitted_return"] - figures["identity_return"]) > 0.5
    assert keep_or_reset(mapper, figures)["kept"] == kept


@pytest.mark.parametrize(("probe", "kept"), [(None, "fitted"), ((2, 1), "identity")])
def test_the_validation_guard_compares_the_starts_the_probe_would_pick(
    probe: tuple[int, int] | None, kept: str
) -> None:
    """Two sources: the nearest pushes against the car's motion (never reaches the flag), a
    far one with it. A Q-negating mapper makes the nearest good, so without a probe the map
    wins; with a probe over both, each side finds a good start, they tie, and a tie keeps the
    identity."""
    family = gym_metatasks.family("MetaMountainCar-v0")
    arch = qnet.Architecture(obs_dim=2, net_arch=(2,), num_actions=3)
    velocity = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    good = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    layers = qnet.stack(
        [
            [(velocity, torch.zeros(2)), (-good, torch.zeros(3))],
            [(velocity, torch.zeros(2)), (good, torch.zeros(3))],
        ]
    )
    descriptors = torch.tensor([[0.5, 0.5], [5.0, 5.0]])
    figures = validation_guard(
        _negating_mapper(arch), descriptors, layers, family, arch, probe=probe, episodes=2
    )
    assert figures["episodes"] == 2
    assert figures.get("probe") == (None if probe is None else [2, 1])
    assert figures["fitted_return"] > 0.5
    if probe is None:
        assert figures["identity_return"] < 0.1  # never reaches the flag: the random return
    else:
        assert figures["identity_return"] == figures["fitted_return"]
    assert keep_or_reset(_negating_mapper(arch), figures)["kept"] == kept


def test_sources_below_the_minimum_return_take_no_part() -> None:
    from sb3_metadqn.core.source_chunks import good_sources, source_return
    from sb3_metadqn.core.source_training import SourceResult

    family = gym_metatasks.family("MetaCartPole-v0")
    empty = np.zeros((0, 4), np.float32)

    def source(task_id: int, returns: list[float] | None) -> SourceResult:
        provenance = {"method": "dqn", "eval_returns": returns} if returns else {}
        return SourceResult(
            task_id, [], provenance, empty, np.zeros(0, bool), empty,
            np.zeros(0, np.int64), np.zeros(0, np.float32), empty,
            np.zeros(0, np.float32), np.zeros(0, bool),
        )  # fmt: skip

    bank = [source(0, [20.0, 500.0]), source(1, [9.0, 30.0]), source(2, None), source(3, [480.0])]
    assert source_return(bank[0], family) == pytest.approx(1.0, abs=0.01)
    assert source_return(bank[1], family) < 0.1
    assert source_return(bank[2], family) == 1.0  # no selection record: an exact source
    assert [r.task_id for r in good_sources(bank, family, 0.5)] == [0, 2, 3]
    assert [r.task_id for r in good_sources(bank, family, 1.5)] == [0, 1, 2, 3]  # < 2 pass


def test_the_optional_settings_are_recorded_only_when_set() -> None:
    from sb3_metadqn.core.meta_config import MetaTrainConfig

    plain = MetaTrainConfig(env_id=TINY_ENV_ID).to_dict()
    assert "guard_probe" not in plain
    assert "guard_episodes" not in plain
    assert "source_q_limit" not in plain
    probed = MetaTrainConfig(env_id=TINY_ENV_ID, guard_probe=(4, 2), guard_episodes=20).to_dict()
    assert probed["guard_probe"] == [4, 2]
    assert probed["guard_episodes"] == 20


def _linear_source(task_id: int, bias: list[float], method: str = "dqn") -> Any:
    """A one-layer source on 2-dim observations whose Q-values are ``bias`` on every unmasked
    fit state (a masked one would read 1e6), with rewards of at most 1 in absolute value."""
    from sb3_metadqn.core.source_training import SourceResult

    weight = np.array([[0.0, 1.0]] * len(bias), np.float32)
    fit_obs = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1e6]], np.float32)
    transitions = np.zeros((3, 2), np.float32)
    return SourceResult(
        task_id, [(weight, np.array(bias, np.float32))],
        {"method": method, "eval_returns": [500.0]} if method == "dqn" else {"method": method},
        fit_obs, np.array([True, True, False]), transitions, np.zeros(3, np.int64),
        np.array([-1.0, 0.5, 7.0], np.float32), transitions, np.zeros(3, np.float32),
        np.array([True, True, False]),
    )  # fmt: skip


def test_the_q_ratio_is_the_largest_greedy_q_over_what_the_rewards_allow() -> None:
    from sb3_metadqn.core.source_chunks import source_q_ratio

    relu = torch.nn.ReLU()
    # rewards of the unmasked transitions: |r| <= 1, so the bound is 1 / (1 - 0.99) = 100
    assert source_q_ratio(_linear_source(0, [50.0, -20.0]), relu, 0.99) == pytest.approx(0.5)
    assert source_q_ratio(_linear_source(1, [-300.0, -400.0]), relu, 0.99) == pytest.approx(3.0)
    assert source_q_ratio(_linear_source(2, [50.0, 0.0]), relu, 0.9) == pytest.approx(5.0)
    assert source_q_ratio(_linear_source(3, [1e9, 0.0], "oracle"), relu, 0.99) == 0.0
    silent = _linear_source(4, [1.0, 0.0])
    silent.reward[:] = 0.0
    assert source_q_ratio(silent, relu, 0.99) == float("inf")


def test_sources_whose_q_values_diverged_take_no_part() -> None:
    from sb3_metadqn.core.source_chunks import good_sources

    family = gym_metatasks.family("MetaCartPole-v0")
    relu = torch.nn.ReLU()
    bank = [
        _linear_source(0, [50.0, 0.0]),
        _linear_source(1, [-300.0, -310.0]),
        _linear_source(2, [120.0, 0.0]),
        _linear_source(3, [1e9, 0.0], "oracle"),
    ]

    def kept(limit: float | None) -> list[int]:
        chosen = good_sources(bank, family, 0.5, q_limit=limit, activation=relu)
        return [r.task_id for r in chosen]

    assert kept(None) == [0, 1, 2, 3]
    assert kept(1.5) == [0, 2, 3]
    assert kept(1.0) == [0, 3]
    assert kept(0.1) == [0, 1, 2, 3]  # fewer than two pass: the test is dropped
    with pytest.raises(ValueError, match="q_limit needs the Q-network's activation"):
        good_sources(bank, family, 0.5, q_limit=1.5)


def test_a_source_above_the_q_limit_is_left_out_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sb3_metadqn.core import source_chunks

    tasks = gym_metatasks.family("MetaCartPole-v0").train_task_ids[:3]
    diverged = int(tasks[1])
    monkeypatch.setattr(
        source_chunks,
        "source_q_ratio",
        lambda result, activation, gamma: 9.0 if result.task_id == diverged else 0.5,
    )
    learner = meta_train(
        "MetaCartPole-v0",
        task_ids=[int(t) for t in tasks],
        rounds=1,
        source_timesteps=200,
        mapper_steps=2,
        keep_sources=None,
        min_source_return=-10.0,
        source_q_limit=2.0,
        backend="serial",
        dqn_kwargs={"learning_starts": 100, "train_freq": 4, "buffer_size": 1000},
    )
    assert sorted(learner.source_task_ids) == sorted(int(t) for t in tasks if t != diverged)
    assert learner.training["sources_above_q_limit"] == 1
    assert learner.training["sources_below_min_return"] == 0
    assert learner.training["config"]["source_q_limit"] == 2.0
