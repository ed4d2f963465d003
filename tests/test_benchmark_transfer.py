"""Smoke test of the transfer benchmark at a tiny budget."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest

from benchmarks.transfer import main, parse_args


def test_transfer_benchmark_tiny_run_writes_its_report_and_reuses_its_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default run's version of the smoke test below: one task, one seed, two methods."""
    args = parse_args(
        ["--tasks", "1", "--seeds", "1", "--timesteps", "100", "--eval-freq", "100", "--eval-episodes", "1",
         "--workers", "1", "--output-dir", str(tmp_path), "--run-cache", str(tmp_path / "runs"),
         "--methods", "metadqn", "tabular"]
    )  # fmt: skip
    report = main(args)
    saved = json.loads((tmp_path / "transfer_MetaNav-v0.json").read_text())
    assert saved["summary"] == report["summary"]
    assert [r["method"] for r in saved["results"]] == ["metadqn", "tabular"]
    assert all(r["steps"] == [0, 100] and len(r["values"]) == 2 for r in saved["results"])
    assert saved["summary"]["metadqn"]["meta_training_core_seconds"] > 0
    assert "tabular" in (tmp_path / "transfer_MetaNav-v0.csv").read_text()
    assert (tmp_path / "transfer_MetaNav-v0.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    again = main(args)
    assert "2 of 2 runs reused" in capsys.readouterr().out
    assert again["results"] == report["results"]


@pytest.mark.slow
def test_transfer_benchmark_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(
        ["--tasks", "1", "--seeds", "2", "--timesteps", "200", "--eval-freq", "100", "--eval-episodes", "1",
         "--workers", "1", "--output-dir", str(tmp_path), "--run-cache", str(tmp_path / "runs"),
         "--methods", "metadqn", "scratch", "nearest-source", "tabular"]
    )  # fmt: skip
    report = main(args)
    saved = json.loads((tmp_path / "transfer_MetaNav-v0.json").read_text())
    assert saved["summary"] == report["summary"]
    assert {r["method"] for r in saved["results"]} == {
        "metadqn",
        "scratch",
        "nearest-source",
        "tabular",
    }
    for result in saved["results"]:
        assert result["steps"] == [0, 100, 200]
        assert len(result["values"]) == 3
    assert saved["summary"]["metadqn"]["runs"] == 2
    assert saved["summary"]["metadqn"]["meta_training_core_seconds"] > 0
    assert saved["summary"]["tabular"]["meta_training_core_seconds"] == 0
    assert set(saved["summary"]["metadqn_auc_probability_of_improvement"]) == {
        "scratch",
        "nearest-source",
        "tabular",
    }
    assert "--tasks 1" in saved["command"]
    assert (tmp_path / "transfer_MetaNav-v0.png").read_bytes()[:4] == b"\x89PNG"
    assert "tabular" in (tmp_path / "transfer_MetaNav-v0.csv").read_text()
    capsys.readouterr()
    again = main(args)  # every run is reused from the run cache
    assert "8 of 8 runs reused" in capsys.readouterr().out
    assert again["results"] == report["results"]
    assert "--rerun" not in saved["command"]
    rerun = parse_args([*shlex.split(saved["command"])[3:], "--rerun", "tabular"])
    redone = main(rerun)  # tabular's runs are redone; the same seeds give the same results
    assert "6 of 8 runs reused" in capsys.readouterr().out
    assert [r["values"] for r in redone["results"]] == [r["values"] for r in report["results"]]


def test_learn_throughput_benchmark_smoke(tmp_path: Path) -> None:
    from benchmarks.learn_throughput import main as throughput_main
    from benchmarks.learn_throughput import parse_args as throughput_args

    report = throughput_main(
        throughput_args(["--steps", "200", "--repeats", "1", "--output-dir", str(tmp_path)])
    )
    saved = json.loads((tmp_path / "learn_throughput_MetaNav-v0.json").read_text())
    assert saved["ratio"] == report["ratio"]
    speeds = saved["steps_per_second"]  # one repeat: the medians are the single runs
    assert sorted(speeds) == ["DQN", "DQN (same init)", "MetaDQN"]
    assert all(len(values) == 1 and values[0] > 0 for values in speeds.values())
    assert saved["ratio"] == pytest.approx(speeds["MetaDQN"][0] / speeds["DQN"][0])
    assert saved["ratio_same_init"] == pytest.approx(
        speeds["MetaDQN"][0] / speeds["DQN (same init)"][0]
    )


def test_anchor_rate_ablation_reaches_the_warm_start_methods_only(tmp_path: Path) -> None:
    from benchmarks.transfer import run_key

    args = parse_args(
        ["--tasks", "1", "--seeds", "1", "--timesteps", "100", "--eval-freq", "100", "--eval-episodes", "1",
         "--workers", "1", "--output-dir", str(tmp_path), "--run-cache", str(tmp_path / "runs"),
         "--methods", "metadqn", "scratch", "--anchor-rate", "0"]
    )  # fmt: skip
    own = dataclasses.replace(args, anchor_rate=-1.0)
    assert run_key("scratch", 800, 0, args, None) == run_key("scratch", 800, 0, own, None)
    assert run_key("metadqn", 800, 0, args, None) != run_key("metadqn", 800, 0, own, None)
    results = {r["method"]: r for r in main(args)["results"]}
    assert results["metadqn"]["hyperparameters"]["anchor_rate"] == 0
    assert "anchor_rate" not in results["scratch"]["hyperparameters"]


def test_first_task_must_leave_room_for_the_tasks(tmp_path: Path) -> None:
    args = parse_args(["--first-task", "195", "--tasks", "10", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="first_task=195, tasks=10"):
        main(args)


def test_artifact_options_change_the_budget_and_the_artifact_path(tmp_path: Path) -> None:
    from benchmarks.transfer import artifact_options, artifact_path, prepare_artifact
    from sb3_metadqn import pretrained

    for env_id in ("MetaCartPole-v0", "MetaAcrobot-v0", "MetaMountainCar-v0"):
        bank = pretrained.load(env_id).training["config"]["num_sources"]
        assert artifact_options("hypernetwork", env_id)["num_sources"] == bank
    assert "num_sources" not in artifact_options("hypernetwork", "MetaNav-v0")
    changed = artifact_options(
        "task-conditioned-oracle",
        "MetaNav-v0",
        ("task-conditioned-oracle.steps=200", "reptile.iterations=3"),
    )
    assert changed == {"steps": 200}
    paths = {
        artifact_path(tmp_path, "x", {"options": options, "seed": seed})
        for options in ({}, {"steps": 200}, {"steps": 300})
        for seed in (0, 1)
    }
    assert len(paths) == 6  # another option or seed: another file
    with pytest.raises(ValueError, match=r"METHOD\.KEY=VALUE"):
        artifact_options("reptile", "MetaNav-v0", ("iterations=3",))
    with pytest.raises(ValueError, match="names method 'reptil'"):
        artifact_options("reptile", "MetaNav-v0", ("reptil.iterations=3",))
    embedded = parse_args(["--artifact-option", "metadqn.rounds=1", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="cannot apply: it uses the embedded meta-learner"):
        prepare_artifact("metadqn", embedded)


def test_dqn_options_change_the_shared_settings_and_the_run_key(tmp_path: Path) -> None:
    from benchmarks.transfer import DQN_SETTINGS, dqn_settings, run_key

    base = parse_args(["--output-dir", str(tmp_path), "--run-cache", str(tmp_path / "runs")])
    assert dqn_settings("MetaNav-v0") == DQN_SETTINGS["MetaNav-v0"]
    shipped = DQN_SETTINGS["MetaNav-v0"]["learning_rate"]
    changed = dqn_settings("MetaNav-v0", ("learning_rate=0.123", "target_update_interval=250"))
    assert changed["learning_rate"] == 0.123
    assert changed["target_update_interval"] == 250
    assert DQN_SETTINGS["MetaNav-v0"]["learning_rate"] == shipped  # the table stays as it is
    same = dataclasses.replace(base, dqn_option=(f"learning_rate={shipped}",))
    other = dataclasses.replace(base, dqn_option=("learning_rate=0.123",))
    assert run_key("scratch", 800, 0, same, None) == run_key("scratch", 800, 0, base, None)
    assert run_key("scratch", 800, 0, other, None) != run_key("scratch", 800, 0, base, None)
    with pytest.raises(ValueError, match=r"KEY a DQN argument.*'lr=1'"):
        dqn_settings("MetaNav-v0", ("lr=1",))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        main(dataclasses.replace(base, dqn_option=("learning_rate",)))


def test_bootstrap_confidence_intervals_are_reproducible() -> None:
    import numpy as np

    from benchmarks.transfer import _iqm_ci

    scores = np.random.default_rng(0).normal(size=(5, 10))
    state = np.random.get_state()  # noqa: NPY002
    first = _iqm_ci(scores, reps=200)
    np.random.random(3)  # noqa: NPY002  (other draws from the global RNG in between)
    assert _iqm_ci(scores, reps=200) == first
    np.random.set_state(state)  # noqa: NPY002
    _iqm_ci(scores, reps=200)
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0]  # the global RNG is left as it was
    assert np.array_equal(state[1], after[1])


def test_action_anchor_ablation_and_negative_raw_thresholds(tmp_path: Path) -> None:
    from benchmarks.transfer import run_key

    args = parse_args(["--output-dir", str(tmp_path), "--action-anchor", "10"])
    own = dataclasses.replace(args, action_anchor=-1.0)
    assert run_key("scratch", 800, 0, args, None) == run_key("scratch", 800, 0, own, None)
    assert run_key("metadqn", 800, 0, args, None) != run_key("metadqn", 800, 0, own, None)
    acrobot = parse_args(["--env-id", "MetaAcrobot-v0", "--threshold-return", "-100"])
    assert acrobot.threshold_return == -100.0
    legacy = dataclasses.replace(own, threshold_return=-1.0)  # the former "not given"
    assert run_key("scratch", 800, 0, own, None) == run_key("scratch", 800, 0, legacy, None)


def test_the_drop_check_counts_runs_that_fell_below_after_reaching() -> None:
    from benchmarks.transfer import fell_below_after_reaching, summarize, table

    assert fell_below_after_reaching([0.1, 0.95, 0.7, 0.92], 0.9) == 0.7
    assert fell_below_after_reaching([0.1, 0.95, 0.97], 0.9) is None
    assert fell_below_after_reaching([0.1, 0.5], 0.9) is None

    def run(seed: int, values: list[float], threshold: float) -> dict:
        return {
            "method": "scratch", "task_id": 800, "seed": seed, "steps": [0, 1, 2, 3],
            "values": values, "jumpstart": values[0], "final": values[-1],
            "auc": sum(values) / 4, "steps_to_threshold": None, "threshold": threshold,
            "meta_training_core_seconds": 0.0, "env_steps_per_second": 1.0,
        }  # fmt: skip

    results = [
        run(0, [0.0, 0.95, 0.6, 0.95], 0.9),
        run(1, [0.0, 0.95, 0.95, 0.95], 0.9),
        run(2, [0.0, 0.1, 0.2, 0.3], 0.9),
        run(3, [0.0, 0.5, 0.4, 0.5], 0.45),  # a raw threshold: the run's own normalized value
    ]
    summary = summarize(results, parse_args(["--methods", "scratch"]))["scratch"]
    assert summary["reached_ever"] == 3
    assert summary["fell_below_after_reaching"] == 2
    assert summary["lowest_after_falling"] == 0.4
    # the IQM curve (mean of the middle two of four runs) at 0.9 normalized: 0.725 at the
    # second evaluation, so never reached here
    assert summary["iqm_curve_reached"] is False
    assert summary["iqm_curve_lowest_after_reaching"] is None
    assert "| never reached |" in table({"scratch": summary}, parse_args(["--methods", "scratch"]))
    dipping = [
        run(0, [0.0, 0.95, 0.6, 0.95], 0.9),
        run(1, [0.0, 0.95, 0.95, 0.95], 0.9),
        run(2, [0.0, 0.95, 0.7, 0.95], 0.9),
        run(3, [0.0, 0.95, 0.95, 0.2], 0.9),
    ]
    summary = summarize(dipping, parse_args(["--methods", "scratch"]))["scratch"]
    assert summary["iqm_curve_reached"] is True
    assert summary["iqm_curve_lowest_after_reaching"] == pytest.approx((0.7 + 0.95) / 2)
    assert "| 0.825 |" in table({"scratch": summary}, parse_args(["--methods", "scratch"]))


def test_a_changed_family_action_anchor_is_a_new_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key records MetaDQN's family action anchor once it differs from the value keys did
    not record: the same key as the run that passed that anchor with --action-anchor."""
    from benchmarks import transfer
    from sb3_metadqn.agents import metadqn

    args = parse_args(["--env-id", "MetaNav-v0", "--output-dir", str(tmp_path)])
    before = transfer.run_key("metadqn", 800, 0, args, None)
    explicit = dataclasses.replace(args, action_anchor=3.0)
    monkeypatch.setitem(metadqn.FAMILY_ACTION_ANCHOR, "MetaNav-v0", 3.0)
    after = transfer.run_key("metadqn", 800, 0, args, None)
    assert after != before
    assert after == transfer.run_key("metadqn", 800, 0, explicit, None)
