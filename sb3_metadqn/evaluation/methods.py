"""The methods the evaluation protocol compares, by name (``METHODS``).

Each method builds an SB3-style model (``learn(total_timesteps, callback=...)``,
``predict(obs, deterministic=True)``) for one task from the artifact it meta-trained, if
any, and says how its envs look (the task-conditioned agent observes the descriptor), how
its artifact is trained, saved and loaded, and what the meta-training cost:

| name | model | artifact |
|------|-------|----------|
| ``scratch`` | ``DQN`` from random weights | none |
| ``metadqn`` | ``MetaDQN``: mapped source | meta-learner (default: the embedded one) |
| ``nearest-source`` | ``WarmStartDQN`` from the nearest source, no mapping network | meta-learner |
| ``source-average`` | ``WarmStartDQN`` from the mean of the 5 nearest sources | meta-learner |
| ``reptile`` | ``WarmStartDQN`` from a Reptile initialization | ``ReptileInit`` |
| ``hypernetwork`` | ``WarmStartDQN`` from h(d_i) | ``HyperNetworkInit`` |
| ``hypernetwork-planner`` | ``WarmStartDQN`` from h(d_i) with the grid planner | ``HyperNetworkInit`` |
| ``task-conditioned`` | ``TaskConditionedDQN``, multi-task DQN on rewards | its pretrained weights |
| ``task-conditioned-oracle`` | ``TaskConditionedDQN`` fit to exact Q* of train tasks | its weights |
| ``tabular`` | ``TabularQLearning`` from zeros | none |
| ``meta-tabular`` | ``MetaTabularQLearning`` from the nearest source's table | ``TableBank`` |
| ``linucb`` | ``LinUCB`` from the population's statistics (contextual bandit) | ``LinUCB`` |
| ``most-popular`` | ``MostPopular`` from the population's click counts | ``MostPopular`` |

Methods whose start carries knowledge of the task (``starts_informed``) keep the warm-start
exploration (epsilon 0.05); the others explore as DQN from scratch does. ``algorithm`` says which hyperparameters
apply: DQN's, the tabular agent's or the bandits' (none).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3 import DQN

from gym_metatasks import ObserveDescriptor
from sb3_metadqn import options, pretrained
from sb3_metadqn.agents.metadqn import MetaDQN
from sb3_metadqn.agents.pretrained_qnet import read_pretrained
from sb3_metadqn.agents.task_conditioned import TaskConditionedDQN
from sb3_metadqn.agents.warm_start import WarmStartDQN
from sb3_metadqn.baselines.bank_initializers import NearestSource, SourceAverage
from sb3_metadqn.baselines.hypernetwork import (
    HyperNetworkConfig,
    HyperNetworkInit,
    hypernetwork_train,
)
from sb3_metadqn.baselines.reptile import ReptileInit, reptile_train
from sb3_metadqn.baselines.task_conditioned_oracle import pretrain_oracle
from sb3_metadqn.baselines.task_conditioned_pretraining import pretrain
from sb3_metadqn.core.meta_learner import MetaLearner
from sb3_metadqn.core.meta_training import meta_train
from sb3_metadqn.evaluation.method import _SET_BY_TRAIN_ARTIFACT, COLD_EXPLORATION, Method
from sb3_metadqn.evaluation.tabular_methods import (
    LinUCBMethod,
    MetaTabular,
    MostPopularMethod,
    Tabular,
)


# --------------------------------------------------------------------------- DQN family
class Scratch(Method):
    name = "scratch"
    summary = "DQN from random weights"
    starts_informed = False

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        return DQN("MlpPolicy", env, seed=seed, **{**COLD_EXPLORATION, **hyperparameters})


#: k of the ``source-average`` method.
AVERAGE_K = 5


class MetaLearnerMethod(Method):
    """Methods on a meta-learner's bank; the default is the family's embedded meta-learner."""

    artifact = "meta-learner"
    warm_start_dqn = True

    def load_artifact(self, env_id: str, artifact: Any) -> Any:
        if artifact is None:
            return pretrained.load(env_id)
        return super().load_artifact(env_id, artifact)

    def read(self, path: Path) -> Any:
        return MetaLearner.load(path)

    def train_options(self) -> list[options.Option]:
        return options.signature_options(meta_train, skip=_SET_BY_TRAIN_ARTIFACT)

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return meta_train(env_id, seed=seed, checkpoint_dir=checkpoint_dir, **options)


class MetaDQNMethod(MetaLearnerMethod):
    name = "metadqn"
    summary = "MetaDQN: a bank source mapped by the mapping network"

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        return MetaDQN("MlpPolicy", env, seed=seed, meta_learner=artifact, **hyperparameters)


class NearestSourceMethod(MetaLearnerMethod):
    name = "nearest-source"
    summary = "fine-tune from the nearest bank source (no mapping network)"

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        initializer = NearestSource.of(artifact)
        return WarmStartDQN("MlpPolicy", env, seed=seed, initializer=initializer, **hyperparameters)

    def cost(self, artifact: Any) -> float:
        return float(artifact.training["cost"]["source_cpu_seconds"])


class SourceAverageMethod(NearestSourceMethod):
    name = "source-average"
    summary = f"mean of the {AVERAGE_K} nearest bank sources' weights"

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        initializer = SourceAverage.of(artifact, k=min(AVERAGE_K, artifact.num_sources))
        return WarmStartDQN("MlpPolicy", env, seed=seed, initializer=initializer, **hyperparameters)


class ReptileMethod(Method):
    name = "reptile"
    summary = "Reptile initialization meta-learned over the train split"
    starts_informed = False
    artifact = "Reptile initialization"
    warm_start_dqn = True

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        kwargs = {**COLD_EXPLORATION, **hyperparameters}
        return WarmStartDQN("MlpPolicy", env, seed=seed, initializer=artifact, **kwargs)

    def read(self, path: Path) -> Any:
        return ReptileInit.load(path)

    def train_options(self) -> list[options.Option]:
        return options.signature_options(reptile_train, skip=_SET_BY_TRAIN_ARTIFACT)

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return reptile_train(env_id, seed=seed, checkpoint_dir=checkpoint_dir, **options)


class HyperNetworkMethod(Method):
    name = "hypernetwork"
    summary = "Q-network weights emitted from the descriptor by a hypernetwork"
    artifact = "hypernetwork"
    warm_start_dqn = True

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        return WarmStartDQN("MlpPolicy", env, seed=seed, initializer=artifact, **hyperparameters)

    def read(self, path: Path) -> Any:
        return HyperNetworkInit.load(path)

    def train_options(self) -> list[options.Option]:
        run = options.signature_options(hypernetwork_train, skip=_SET_BY_TRAIN_ARTIFACT)
        config = options.dataclass_options(
            HyperNetworkConfig, skip=_SET_BY_TRAIN_ARTIFACT, nested=False
        )
        return [*config, *run]

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return hypernetwork_train(env_id, seed=seed, checkpoint_dir=checkpoint_dir, **options)


class HyperNetworkPlannerMethod(HyperNetworkMethod):
    name = "hypernetwork-planner"
    summary = "hypernetwork with the mapping network's grid planner (reading d_i alone)"

    def load_artifact(self, env_id: str, artifact: Any) -> Any:
        loaded = super().load_artifact(env_id, artifact)
        if loaded.network.planner is None:
            raise ValueError(
                f"method {self.name!r} needs a hypernetwork trained with planner=True, got one "
                f"without ({artifact!r}); that one is method 'hypernetwork'"
            )
        return loaded

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return super().train_artifact(
            env_id, seed=seed, checkpoint_dir=checkpoint_dir, **{"planner": True, **options}
        )


class TaskConditionedMethod(Method):
    name = "task-conditioned"
    summary = "one DQN over (state, task embedding), multi-task pretrained, then adapted"
    artifact = "task-conditioned pretrained model"

    def make_env(self, family: Any, task: Any) -> gym.Env[Any, Any]:
        return ObserveDescriptor(super().make_env(family, task), mode="dict")

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        return TaskConditionedDQN(
            "MultiInputPolicy", env, seed=seed, pretrained=artifact, **hyperparameters
        )

    def read(self, path: Path) -> Any:
        read_pretrained(path)  # validated now, not at the first run
        return path

    def train_options(self) -> list[options.Option]:
        return options.signature_options(pretrain, skip=_SET_BY_TRAIN_ARTIFACT)

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return pretrain(env_id, seed=seed, checkpoint_dir=checkpoint_dir, **options)

    def save_artifact(self, artifact: Any, path: Path) -> None:
        artifact.save_pretrained(path)

    def record_command(self, artifact: Any, command: str) -> None:
        artifact.pretraining["command"] = command

    def cost(self, artifact: Any) -> float:
        if isinstance(artifact, (str, os.PathLike)):
            return float(read_pretrained(artifact).document["pretraining"]["core_seconds"])
        return float(artifact.pretraining["core_seconds"])


class TaskConditionedOracleMethod(TaskConditionedMethod):
    name = "task-conditioned-oracle"
    summary = "TaskConditionedDQN fit to the exact Q* of the train tasks, then adapted"
    artifact = "task-conditioned model fit to Q*"

    def read(self, path: Path) -> Any:
        pretraining = read_pretrained(path).document.get("pretraining") or {}
        if pretraining.get("supervision") != "oracle":
            raise ValueError(
                f"method {self.name!r} needs a model from pretrain_oracle, but {str(path)!r} was "
                "pretrained on rewards; that one is method 'task-conditioned'"
            )
        return path

    def train_options(self) -> list[options.Option]:
        return options.signature_options(pretrain_oracle, skip=_SET_BY_TRAIN_ARTIFACT)

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return pretrain_oracle(env_id, seed=seed, checkpoint_dir=checkpoint_dir, **options)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        MetaDQNMethod(),
        Scratch(),
        NearestSourceMethod(),
        SourceAverageMethod(),
        ReptileMethod(),
        HyperNetworkMethod(),
        HyperNetworkPlannerMethod(),
        TaskConditionedMethod(),
        TaskConditionedOracleMethod(),
        Tabular(),
        MetaTabular(),
        LinUCBMethod(),
        MostPopularMethod(),
    )
}


def get_method(name: str) -> Method:
    """The method called ``name``; ``ValueError`` listing the names otherwise."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {name!r}")
    return METHODS[name]
