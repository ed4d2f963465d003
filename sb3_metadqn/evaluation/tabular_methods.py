"""The tabular and bandit methods of the comparison (see
:mod:`sb3_metadqn.evaluation.methods` for the table of all methods)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from sb3_metadqn import options
from sb3_metadqn.agents.tabular_q import TabularQLearning
from sb3_metadqn.baselines.linucb import LinUCB
from sb3_metadqn.baselines.meta_tabular import MetaTabularQLearning
from sb3_metadqn.baselines.most_popular import MostPopular
from sb3_metadqn.baselines.session_bandit import SessionBandit, pretrain_bandit
from sb3_metadqn.baselines.table_bank import TableBank
from sb3_metadqn.evaluation.method import _SET_BY_TRAIN_ARTIFACT, Method


# --------------------------------------------------------------------------- tabular
class Tabular(Method):
    name = "tabular"
    summary = "tabular Q-learning from a zero table"
    algorithm = "tabular"
    starts_informed = False

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        return TabularQLearning("TabularPolicy", env, seed=seed, **hyperparameters)


class MetaTabular(Method):
    name = "meta-tabular"
    summary = "tabular Q-learning from the nearest source task's table"
    algorithm = "tabular"
    artifact = "table bank"

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        return MetaTabularQLearning(
            "TabularPolicy", env, seed=seed, table_bank=artifact, **hyperparameters
        )

    def read(self, path: Path) -> Any:
        return TableBank.load(path)

    def train_options(self) -> list[options.Option]:
        return options.signature_options(TableBank.build, skip=_SET_BY_TRAIN_ARTIFACT)

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return TableBank.build(env_id, seed=seed, **options)


# --------------------------------------------------------------------------- bandits
class BanditMethod(Method):
    """A bandit started from its population model (fit on train-split users' sessions)."""

    algorithm = "bandit"
    bandit: ClassVar[type[SessionBandit]]

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        return self.bandit("BanditPolicy", env, seed=seed, initial=artifact, **hyperparameters)

    def read(self, path: Path) -> Any:
        return self.bandit.load(path)

    def train_options(self) -> list[options.Option]:
        run = options.signature_options(pretrain_bandit, skip=(*_SET_BY_TRAIN_ARTIFACT, "cls"))
        bandit = options.signature_options(
            self.bandit.__init__,
            skip=("policy", "env", "seed", "initial", "task_descriptor", "verbose"),
        )
        return [*bandit, *run]

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        return pretrain_bandit(self.bandit, env_id, seed=seed, **options)


class LinUCBMethod(BanditMethod):
    name = "linucb"
    summary = "LinUCB over (descriptor, session state) from the population's statistics"
    artifact = "population LinUCB"
    bandit = LinUCB


class MostPopularMethod(BanditMethod):
    name = "most-popular"
    summary = "the item with the best click-through rate over the population"
    starts_informed = False
    artifact = "population click counts"
    bandit = MostPopular
