"""The RL Baselines3 Zoo path: ``python -m sb3_metadqn.zoo`` and the shipped hyperparameters."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import rl_zoo3.utils
import yaml
from stable_baselines3 import DQN

import gym_metatasks
from benchmarks import transfer
from sb3_metadqn import MetaDQN, pretrained, zoo
from sb3_metadqn.evaluation.methods import COLD_EXPLORATION

ROOT = Path(__file__).resolve().parent.parent
#: Keys of a zoo hyperparameter entry that are not constructor arguments.
ZOO_KEYS = {"n_timesteps", "policy"}
#: Configurations without benchmark settings, and the family whose settings they take.
BASE_CONFIGURATION = {
    "MetaNav5x5-v0": "MetaNav-v0",
    "MetaNav12x12-v0": "MetaNav-v0",
    "MetaFrozenLake4x4-v0": "MetaFrozenLake-v0",
}


def run_zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m sb3_metadqn.zoo ARGS`` in a fresh process without a display."""
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "sb3_metadqn.zoo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("algo", ["dqn", "metadqn"])
def test_shipped_hyperparameters_name_every_registered_family_and_nothing_else(algo):
    assert set(zoo.hyperparameters(algo)) == set(gym_metatasks.families())


@pytest.mark.parametrize(("algo", "cls"), [("dqn", DQN), ("metadqn", MetaDQN)])
def test_every_shipped_key_is_an_argument_of_the_algorithm(algo, cls):
    accepted = set(inspect.signature(DQN.__init__).parameters) | set(
        inspect.signature(cls.__init__).parameters
    )
    for env_id, settings in zoo.hyperparameters(algo).items():
        assert settings["policy"] == "MlpPolicy", env_id
        assert set(settings) - ZOO_KEYS <= accepted, env_id


@pytest.mark.parametrize("algo", ["dqn", "metadqn"])
def test_shipped_settings_are_the_transfer_benchmarks(algo):
    for env_id, settings in zoo.hyperparameters(algo).items():
        benchmarked = BASE_CONFIGURATION.get(env_id, env_id)
        expected = {"n_timesteps": transfer.Args().timesteps, "policy": "MlpPolicy"}
        expected |= transfer.DQN_SETTINGS.get(benchmarked, {})
        if algo == "dqn":
            expected |= transfer.SCRATCH_EXPLORATION.get(benchmarked, COLD_EXPLORATION)
        assert settings == expected, env_id
        for key, value in settings.items():
            assert type(value) is type(expected[key]), (env_id, key, value)  # 4e-3 is no str


def test_metadqn_settings_leave_metadqns_own_exploration_and_meta_learner():
    for settings in zoo.hyperparameters("metadqn").values():
        assert not any(key.startswith("exploration") for key in settings)
        assert "meta_learner" not in settings
    assert set(pretrained.available()) <= set(zoo.hyperparameters("metadqn"))


def test_hyperparameter_files_ship_as_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"zoo/hyperparams/*.yml"' in pyproject
    assert zoo.shipped_algorithms() == ["dqn", "metadqn"]
    for algo in zoo.shipped_algorithms():
        assert yaml.safe_load(zoo.hyperparameters_file(algo).read_text())


def test_hyperparameters_file_names_the_shipped_algorithms_for_another():
    with pytest.raises(ValueError, match=r"algo must be one of \['dqn', 'metadqn'\], got 'ppo'"):
        zoo.hyperparameters_file("ppo")


def test_register_adds_metadqn_to_the_zoo_algorithms():
    zoo.register()
    assert rl_zoo3.utils.ALGOS["metadqn"] is MetaDQN
    assert rl_zoo3.utils.ALGOS["dqn"] is DQN


def test_module_prefixed_env_ids_become_registered_ids():
    args = zoo.zoo_arguments("enjoy", ["--algo", "metadqn", "--env", "gym_metatasks:MetaNav-v0"])
    assert args == ["--algo", "metadqn", "--env", "MetaNav-v0"]
    assert zoo.zoo_arguments("enjoy", ["--env=gym_metatasks:MetaCartPole-v0"]) == [
        "--env=MetaCartPole-v0"
    ]
    assert "MetaNav-v0" in gym.registry
    assert zoo.zoo_arguments("enjoy", ["--env"]) == ["--env"]  # the zoo reports the missing id


def test_a_module_that_does_not_import_is_named():
    with pytest.raises(ValueError, match=r"module 'no_such_module_xyz', which cannot be imported"):
        zoo.zoo_arguments("train", ["--env", "no_such_module_xyz:Foo-v0"])


def test_train_reads_the_shipped_file_for_a_family_unless_given_one():
    args = zoo.zoo_arguments("train", ["--algo", "dqn", "--env", "MetaAcrobot-v0"])
    assert args[-2:] == ["--conf-file", str(zoo.hyperparameters_file("dqn"))]
    own = ["--algo", "dqn", "--env", "MetaAcrobot-v0", "-conf", "mine.yml"]
    assert zoo.zoo_arguments("train", own) == own
    own = ["--algo", "metadqn", "--env", "MetaNav-v0", "--conf-file", "mine.yml"]
    assert zoo.zoo_arguments("train", own) == own
    # the zoo's own files for its own envs and algorithms
    for args in (
        ["--algo", "dqn", "--env", "CartPole-v1"],
        ["--algo", "ppo", "--env", "MetaNav-v0"],
    ):
        assert zoo.zoo_arguments("train", args) == args
    assert "--conf-file" not in zoo.zoo_arguments("enjoy", ["--algo", "dqn", "--env", "MetaNav-v0"])


def test_main_refuses_a_script_it_does_not_run():
    with pytest.raises(SystemExit, match=r"train,enjoy,record_video.*got \['plot_train'\]"):
        zoo.main(["plot_train"])


def test_zoo_train_on_a_physics_family_uses_the_shipped_dqn_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    zoo.main(
        ["train", "--algo", "dqn", "--env", "MetaCartPole-v0", "--env-kwargs", "task_id:3",
         "-n", "256", "-f", str(tmp_path), "--seed", "1", "--eval-freq", "-1", "--verbose", "0"]
    )  # fmt: skip
    model = DQN.load(tmp_path / "dqn" / "MetaCartPole-v0_1" / "MetaCartPole-v0.zip")
    assert model.num_timesteps == 256  # one train_freq of 256 steps
    assert model.lr_schedule(1.0) == 0.0023
    assert (model.gradient_steps, model.target_update_interval) == (128, 10)
    assert model.exploration_final_eps == 0.04
    assert model.get_env() is None


def test_zoo_trains_metadqn_with_the_shipped_settings_and_enjoy_replays_it(tmp_path, capsys):
    zoo.main(
        ["train", "--algo", "metadqn", "--env", "gym_metatasks:MetaNav-v0",
         "--env-kwargs", "task_id:803", "-n", "300", "-f", str(tmp_path), "--seed", "0",
         "--verbose", "0"]
    )  # fmt: skip
    folder = tmp_path / "metadqn" / "MetaNav-v0_1"
    model = MetaDQN.load(folder / "MetaNav-v0.zip")
    assert model.num_timesteps == 300
    assert model.meta_init["task_id"] == 803
    assert model.meta_init["initializer_env_id"] == "MetaNav-v0"
    assert (model.lr_schedule(1.0), model.buffer_size, model.target_update_interval) == (
        0.004,
        50_000,
        500,
    )
    assert model.exploration_final_eps == 0.05  # MetaDQN's own
    config = yaml.load((folder / "MetaNav-v0" / "config.yml").read_text(), Loader=yaml.Loader)
    assert dict(config)["learning_rate"] == 0.004
    # MetaDQN's start (no update before learning_starts=1000) solves this test task
    family = gym_metatasks.family("MetaNav-v0")
    assert family.policy_return(803, model) == pytest.approx(family.optimal_return(803))

    capsys.readouterr()
    zoo.main(
        ["enjoy", "--algo", "metadqn", "--env", "MetaNav-v0", "-f", str(tmp_path),
         "--no-render", "-n", "50"]
    )  # fmt: skip
    mean_reward = re.search(r"Mean reward: (\S+)", capsys.readouterr().out)
    assert mean_reward is not None
    assert float(mean_reward.group(1)) == pytest.approx(family.optimal_return(803))


# the zoo leaves its training env (and monitor file) open when the model cannot be built
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_family_without_an_embedded_meta_learner_takes_one_as_a_parameter(tmp_path):
    missing = tmp_path / "nav5x5.safetensors"
    with pytest.raises(FileNotFoundError, match=f"no artifact at path='{missing}'"):
        zoo.main(
            ["train", "--algo", "metadqn", "--env", "MetaNav5x5-v0", "-n", "10",
             "-f", str(tmp_path), "--verbose", "0", "-params", f"meta_learner:'{missing}'"]
        )  # fmt: skip


@pytest.mark.slow
def test_the_documented_commands_train_and_record_a_video_without_a_display(tmp_path):
    run = run_zoo(
        "train", "--algo", "metadqn", "--env", "gym_metatasks:MetaNav-v0",
        "--env-kwargs", "task_id:803", "-n", "300", "-f", str(tmp_path), "--seed", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert (
        MetaDQN.load(tmp_path / "metadqn" / "MetaNav-v0_1" / "MetaNav-v0.zip").num_timesteps == 300
    )

    video_dir = tmp_path / "videos"
    run = run_zoo(
        "record_video", "--algo", "metadqn", "--env", "MetaNav-v0", "-f", str(tmp_path),
        "-n", "40", "-o", str(video_dir),
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    (video,) = video_dir.glob("*.mp4")
    assert video.stat().st_size > 1000
    assert video.read_bytes()[4:8] == b"ftyp"  # an MP4 container


RGB_FAMILIES = [
    env_id
    for env_id in gym_metatasks.families()
    if "rgb_array" in gym.make(env_id).unwrapped.metadata["render_modes"]
]


def test_every_family_but_the_recommender_renders_rgb_arrays():
    assert set(gym_metatasks.families()) - set(RGB_FAMILIES) == {"MetaRecommend-v0"}


@pytest.mark.parametrize("env_id", RGB_FAMILIES)
def test_rgb_array_frames_render_without_a_display(env_id, monkeypatch):
    """What record_video needs: uint8 RGB frames, also on a machine without a display."""
    monkeypatch.delenv("DISPLAY", raising=False)
    env = gym.make(env_id, task_id=5, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.dtype == np.uint8
    assert first.ndim == 3
    assert first.shape[2] == 3
    assert first.min() < first.max()
    env.action_space.seed(0)
    moved = False
    for _ in range(5):
        env.step(env.action_space.sample())
        moved |= bool((env.render() != first).any())
    assert moved
    env.close()
