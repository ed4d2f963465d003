"""Smoke test of the attribution benchmark at a tiny budget, checked against independent
computations of what each variant starts from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gym_metatasks
from benchmarks.attribution import main, parse_args
from sb3_metadqn import MetaDQN, pretrained
from sb3_metadqn.nets import qnet

ENV_ID = "MetaNav-v0"
FAMILY = gym_metatasks.family(ENV_ID)


def _exact_greedy(layers: qnet.Layers, task_id: int, learner) -> float:
    """Normalized exact return of the greedy policy of ``layers`` (one-hot cells)."""
    eye = torch.eye(FAMILY.num_states)
    q = qnet.batched_forward(
        qnet.stack([layers]), eye.unsqueeze(0), learner.arch.activation_module()
    )
    actions = q[0].argmax(-1).numpy()
    return FAMILY.normalized_return(task_id, FAMILY.policy_return(task_id, actions))


def test_attribution_jumpstarts_and_curves(tmp_path: Path) -> None:
    args = parse_args(
        ["--env-id", ENV_ID, "--split", "validation", "--tasks", "3", "--workers", "1",
         "--variants", "metadqn", "mapped-farthest", "mapped-shared-init", "nearest-source", "scratch",
         "--curves", "metadqn", "scratch", "--curve-tasks", "1", "--curve-seeds", "1",
         "--timesteps", "200", "--eval-freq", "100",
         "--output-dir", str(tmp_path), "--run-cache", str(tmp_path / "runs")]
    )  # fmt: skip
    report = main(args)
    saved = json.loads((tmp_path / f"attribution_{ENV_ID}_validation.json").read_text())
    assert saved["jumpstart"] == report["jumpstart"]
    assert saved["evaluation"] == "exact"
    tasks = list(FAMILY.validation_task_ids[:3])
    rows = {(r["variant"], r["task_id"]): r for r in saved["jumpstart_rows"]}
    assert set(rows) == {(v, t) for v in args.variants for t in tasks}
    learner = pretrained.load(ENV_ID)
    for task_id in tasks:
        d = FAMILY.descriptor(task_id)
        distance = np.linalg.norm(learner.source_descriptors.numpy() - d, axis=1)
        model = MetaDQN("MlpPolicy", FAMILY.make(task_id), seed=0, buffer_size=100)
        expected = {
            "metadqn": _exact_greedy(qnet.get_layers(model.q_net), task_id, learner),
            "nearest-source": _exact_greedy(
                [(w[j], b[j]) for w, b in learner.source_layers for j in [int(distance.argmin())]],
                task_id,
                learner,
            ),
            "mapped-farthest": _exact_greedy(
                learner.map_source(d, int(distance.argmax())), task_id, learner
            ),
        }
        j = int(distance.argmin())
        with torch.no_grad():
            shared = learner.mapper(
                torch.as_tensor(d).unsqueeze(0),
                learner.source_descriptors[j : j + 1],
                qnet.stack([learner.shared_init]),
            )
        expected["mapped-shared-init"] = _exact_greedy(qnet.index(shared, 0), task_id, learner)
        assert (
            rows[("mapped-shared-init", task_id)]["init"]["d_source_task_id"]
            == (learner.source_task_ids[j])
        )
        for variant, value in expected.items():
            assert rows[(variant, task_id)]["jumpstart"] == pytest.approx(value, abs=1e-9)
        assert (
            rows[("mapped-farthest", task_id)]["init"]["mapped"]
            == learner.source_task_ids[int(distance.argmax())]
        )
    summary = saved["jumpstart"]
    for variant in args.variants:
        values = [rows[(variant, t)]["jumpstart"] for t in tasks]
        assert summary[variant]["mean"] == pytest.approx(np.mean(values))
        assert summary[variant]["fraction_at_least_0.9"] == pytest.approx(
            np.mean(np.array(values) >= 0.9)
        )
    assert summary["mapped-farthest"]["meta_training_core_seconds"] == pytest.approx(
        learner.training["cost"]["core_seconds"]
    )
    assert summary["scratch"]["meta_training_core_seconds"] == 0
    curves = saved["curves"]["results"]
    assert sorted(r["method"] for r in curves) == ["metadqn", "scratch"]
    for result in curves:
        assert result["evaluation"] == "exact"
        assert result["steps"] == [0, 100, 200]
    assert (tmp_path / f"attribution_{ENV_ID}_validation_jumpstart.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    assert (tmp_path / f"attribution_{ENV_ID}_validation_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_mapped_variants_have_no_learning_curves(tmp_path: Path) -> None:
    args = parse_args(["--curves", "mapped-random", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="jumpstart-only"):
        main(args)


def test_variants_a_family_cannot_have_are_listed_not_run(tmp_path: Path) -> None:
    from benchmarks.attribution import variant_plan

    kept, skipped = variant_plan(
        parse_args(["--env-id", "MetaCartPole-v0"]), gym_metatasks.family("MetaCartPole-v0")
    )
    assert set(skipped) == {"metadqn-no-planner", "hypernetwork-planner", "task-conditioned-oracle"}
    assert "metadqn" in kept
    assert "mapped-shared-init" in kept
    assert "metadqn-no-probe" in kept
    _, skipped = variant_plan(parse_args(["--env-id", ENV_ID]), FAMILY)
    assert "metadqn-no-probe" in skipped
    assert "nearest-source-probe" in skipped


def test_probe_variants_switch_the_probe_off_and_give_it_to_the_sources(tmp_path: Path) -> None:
    """On a physics family: MetaDQN as shipped probes its mapped candidates and records the
    probe's env steps; ``metadqn-no-probe`` is the nearest mapped source; and
    ``nearest-source-probe`` runs the same probe over the sources as they are."""
    from sb3_metadqn.agents.metadqn import FAMILY_PROBE

    env_id = "MetaMountainCar-v0"
    args = parse_args(
        ["--env-id", env_id, "--split", "validation", "--tasks", "2", "--workers", "1",
         "--jumpstart-episodes", "2", "--skip-curves",
         "--variants", "metadqn", "metadqn-no-probe", "nearest-source-probe", "nearest-source",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    report = main(args)
    rows = {(r["variant"], r["task_id"]): r for r in report["jumpstart_rows"]}
    family = gym_metatasks.family(env_id)
    candidates, _ = FAMILY_PROBE[env_id]
    for task in family.validation_task_ids[:2]:
        shipped = rows[("metadqn", task)]
        assert shipped["init"]["selection"] == "probe_return"
        assert shipped["init"]["candidates"] == candidates
        assert shipped["probe_env_steps"] == shipped["init"]["probe_env_steps"] > 0
        assert rows[("metadqn-no-probe", task)]["probe_env_steps"] == 0
        assert rows[("metadqn-no-probe", task)]["init"]["selection"] == "nearest"
        unmapped = rows[("nearest-source-probe", task)]
        assert unmapped["init"]["initializer"] == "nearest-source"
        assert unmapped["init"]["candidates"] == candidates
        assert list(unmapped["init"]["probe_returns"]) == list(shipped["init"]["probe_returns"])
    summary = report["jumpstart"]
    assert summary["metadqn-no-probe"]["probe_env_steps_mean"] == 0
    assert summary["metadqn"]["probe_env_steps_mean"] == pytest.approx(
        np.mean([rows[("metadqn", t)]["probe_env_steps"] for t in family.validation_task_ids[:2]])
    )


def test_rerun_names_curve_variants(tmp_path: Path) -> None:
    args = parse_args(["--rerun", "mapped-random", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="rerun must name curve variants"):
        main(args)


def test_no_planner_options_take_any_meta_training_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MetaTrainConfig field the learner's record leaves out (an unset guard option) is
    passed on; a name that is no option is refused with what is allowed."""
    import sb3_metadqn
    from benchmarks.attribution import no_planner_artifact

    seen = {}

    class Saved:
        def __init__(self) -> None:
            self.training: dict = {}

        def save(self, path: Path) -> None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text("saved")

    def fake_meta_train(env_id: str, **kwargs):
        seen.update(kwargs, env_id=env_id)
        return Saved()

    monkeypatch.setattr(sb3_metadqn, "meta_train", fake_meta_train)
    learner = pretrained.load(ENV_ID)
    assert "guard_episodes" not in learner.training["config"]
    options = ["metadqn-no-planner.guard_episodes=7", "metadqn-no-planner.rank=4"]
    args = parse_args(["--env-id", ENV_ID, "--artifact-dir", str(tmp_path),
                       "--artifact-option", *options])  # fmt: skip
    path = no_planner_artifact(args, learner)
    assert Path(path).read_text() == "saved"
    assert seen["env_id"] == ENV_ID
    assert seen["planner"] is False
    assert seen["guard_episodes"] == 7
    assert seen["mapper"].rank == 4
    assert seen["mapper"].grid_size is None
    bad = parse_args(["--env-id", ENV_ID, "--artifact-dir", str(tmp_path),
                      "--artifact-option", "metadqn-no-planner.guard_episode=7"])  # fmt: skip
    with pytest.raises(ValueError, match=r"guard_episode: no such .*allowed: .*'guard_episodes'"):
        no_planner_artifact(bad, learner)
