"""The methods registry: every method runs through the evaluation path and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gym_metatasks
from sb3_metadqn.cli import main
from sb3_metadqn.evaluation.methods import METHODS, get_method
from sb3_metadqn.evaluation.transfer import run_transfer
from tests.helpers import TINY_ENV_ID, tiny_meta_train

FAMILY = gym_metatasks.family(TINY_ENV_ID)
TEST_TASK = FAMILY.test_task_ids[0]
TINY_OPTIONS: dict[str, dict[str, Any]] = {
    "reptile": {"iterations": 3, "meta_batch_size": 2, "inner_steps": 5},
    "hypernetwork": {
        "num_sources": 6, "chunk_size": 3, "source_timesteps": 50, "steps": 10,
        "hidden": [16], "backend": "serial",
    },
    "hypernetwork-planner": {
        "num_sources": 6, "chunk_size": 3, "source_timesteps": 50, "steps": 10,
        "hidden": [16], "backend": "serial", "planner_iterations": 4,
    },
    "task-conditioned": {"total_timesteps": 300, "dqn_kwargs": {"learning_starts": 50}},
    "task-conditioned-oracle": {"steps": 20, "batch_tasks": 4},
    "meta-tabular": {"num_sources": 10},
    "linucb": {"sessions": 20},
    "most-popular": {"sessions": 20},
}  # fmt: skip
#: Methods that serve only some families, with the family they are checked on.
METHOD_ENV_IDS = {"linucb": "MetaRecommend-v0", "most-popular": "MetaRecommend-v0"}


def env_id_of(method: str) -> str:
    return METHOD_ENV_IDS.get(method, TINY_ENV_ID)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny artifact of every method that needs one (saved and read back)."""
    folder = tmp_path_factory.mktemp("methods")
    learner = tiny_meta_train()
    out: dict[str, Any] = {"metadqn": learner, "nearest-source": learner, "source-average": learner}
    for name, options in TINY_OPTIONS.items():
        method = get_method(name)
        artifact = method.train_artifact(env_id_of(name), seed=0, **options)
        path = folder / f"{name}.safetensors"
        method.save_artifact(artifact, path)
        out[name] = method.load_artifact(env_id_of(name), path)
        out[f"{name}:path"] = path
    out["scratch"] = out["tabular"] = None
    return out


def test_every_method_is_registered_once() -> None:
    assert list(METHODS) == [
        "metadqn", "scratch", "nearest-source", "source-average", "reptile", "hypernetwork",
        "hypernetwork-planner", "task-conditioned", "task-conditioned-oracle", "tabular",
        "meta-tabular", "linucb", "most-popular",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"method must be one of .*'metadqn'.*got 'dqn'"):
        get_method("dqn")


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_through_the_evaluation_path(
    method: str, artifacts: dict[str, Any]
) -> None:
    env_id = env_id_of(method)
    result = run_transfer(
        method,
        env_id,
        gym_metatasks.family(env_id).test_task_ids[0],
        0,
        total_timesteps=200,
        eval_freq=100,
        dqn_kwargs={"learning_starts": 50},
        artifact=artifacts[method],
    )
    assert result.method == method
    assert result.steps == [0, 100, 200]
    assert len(result.values) == 3
    assert result.jumpstart == result.values[0]
    if get_method(method).artifact is None:
        assert result.meta_training_core_seconds == 0.0
    else:
        assert result.meta_training_core_seconds > 0.0


def test_methods_that_need_an_artifact_say_how_to_get_one() -> None:
    with pytest.raises(ValueError, match="metadqn train-baseline reptile MetaNav5x5-v0"):
        run_transfer("reptile", TINY_ENV_ID, TEST_TASK, 0, total_timesteps=10)
    with pytest.raises(ValueError, match="takes no artifact"):
        run_transfer("scratch", TINY_ENV_ID, TEST_TASK, 0, total_timesteps=10, artifact="x")


def test_train_split_tasks_are_not_evaluated() -> None:
    with pytest.raises(ValueError, match="must be a held-out task"):
        run_transfer("tabular", TINY_ENV_ID, FAMILY.train_task_ids[0], 0, total_timesteps=10)


def test_cli_train_baseline_info_and_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reptile.safetensors"
    options = ["iterations=3", "meta_batch_size=2", "inner_steps=5"]
    assert (
        main(["train-baseline", "reptile", TINY_ENV_ID, "--output", str(path), "--set", *options])
        == 0
    )
    assert "meta-training cost" in capsys.readouterr().out
    assert main(["info", str(path), "--json"]) == 0
    info = capsys.readouterr().out
    assert '"kind": "reptile-init"' in info
    assert "metadqn train-baseline reptile" in info  # the command is recorded
    code = main(
        ["evaluate", TINY_ENV_ID, "--methods", "reptile", "tabular", "--artifact", f"reptile={path}",
         "--timesteps", "100", "--eval-freq", "50"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "reptile: mean jumpstart" in out
    assert "tabular: mean jumpstart" in out


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("reptile", "reptile-init"),
        ("hypernetwork", "hypernetwork"),
        ("task-conditioned", "task-conditioned-dqn"),
        ("meta-tabular", "table-bank"),
    ],
)
def test_cli_info_describes_every_artifact(
    method: str, kind: str, artifacts: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(artifacts[f"{method}:path"]), "--json"]) == 0
    out = capsys.readouterr().out
    assert f'"kind": "{kind}"' in out
    assert TINY_ENV_ID in out
    assert main(["info", str(artifacts[f"{method}:path"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kind:", kind]
    assert lines[1].split()[:2] == ["family:", TINY_ENV_ID]
    assert any(line.startswith("meta-training:") and "core-seconds" in line for line in lines)
    assert any(line.startswith("command:") for line in lines)  # "not recorded" in Python


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--artifact", "reptile"], "--artifact must be METHOD=PATH"),
        (["--artifact", "dqn=x"], "--artifact names method 'dqn'"),
        (["--methods", "reptile"], "reptile: method 'reptile' needs a Reptile initialization"),
    ],
)
def test_cli_evaluate_bad_artifacts(argv: list[str], match: str) -> None:
    with pytest.raises(SystemExit, match=match):
        main(["evaluate", TINY_ENV_ID, "--timesteps", "10", *argv])


def test_cli_train_baseline_bad_options(tmp_path: Path) -> None:
    out = str(tmp_path / "r.safetensors")
    with pytest.raises(SystemExit, match="--set takes KEY=VALUE"):
        main(["train-baseline", "reptile", TINY_ENV_ID, "--output", out, "--set", "iterations"])
    with pytest.raises(
        SystemExit, match="method 'reptile' has no option 'iteration'; allowed: iterations"
    ):
        main(["train-baseline", "reptile", TINY_ENV_ID, "--output", out, "--set", "iteration=3"])


def test_grid_curves_are_exact_and_physics_jumpstarts_use_20_episodes() -> None:
    from stable_baselines3 import DQN

    from sb3_metadqn.evaluation.rollouts import greedy_return

    grid = run_transfer("scratch", TINY_ENV_ID, TEST_TASK, 3, total_timesteps=10, eval_freq=10)
    assert grid.evaluation == "exact"
    model = DQN("MlpPolicy", FAMILY.make(TEST_TASK), seed=3)  # the same random init
    eye = np.eye(FAMILY.num_states, dtype=np.float32)
    actions = np.array([int(model.predict(row, deterministic=True)[0]) for row in eye])
    exact = FAMILY.normalized_return(TEST_TASK, FAMILY.policy_return(TEST_TASK, actions))
    assert grid.jumpstart == pytest.approx(exact)

    physics = gym_metatasks.family("MetaCartPole-v0")
    task = physics.validation_task_ids[0]  # validation tasks are held out too
    result = run_transfer(
        "scratch", "MetaCartPole-v0", task, 0, total_timesteps=10, eval_freq=10, eval_episodes=2
    )
    assert result.evaluation == "2 sampled episodes (20 at step 0)"
    model = DQN("MlpPolicy", physics.make(task), seed=0)
    sampled = greedy_return(model, physics.make(task), 20, seed=10_000)
    assert result.jumpstart == pytest.approx(physics.normalized_return(task, sampled))


def test_batched_greedy_return_plays_the_episodes_of_the_sequential_one() -> None:
    from stable_baselines3 import DQN

    from sb3_metadqn.evaluation.rollouts import greedy_return, greedy_return_batched

    physics = gym_metatasks.family("MetaCartPole-v0")
    task = physics.test_task_ids[0]
    model = DQN("MlpPolicy", physics.make(task), seed=1)
    envs = [physics.make(task) for _ in range(6)]
    batched = greedy_return_batched(model, envs, seed=5)
    assert batched == pytest.approx(greedy_return(model, physics.make(task), 6, seed=5))


def test_variant_methods_refuse_the_other_variants_artifact(artifacts: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="needs a hypernetwork trained with planner=True"):
        get_method("hypernetwork-planner").load_artifact(
            TINY_ENV_ID, artifacts["hypernetwork:path"]
        )
    with pytest.raises(ValueError, match="needs a model from pretrain_oracle"):
        get_method("task-conditioned-oracle").load_artifact(
            TINY_ENV_ID, artifacts["task-conditioned:path"]
        )
