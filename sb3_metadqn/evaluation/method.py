"""The interface every method of the comparison implements (:class:`Method`); the
methods themselves are in :mod:`sb3_metadqn.evaluation.methods`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym

from sb3_metadqn import options

#: Arguments of a trainer that ``train_artifact``'s caller sets, not ``--set`` (every
#: trainer takes ``progress_bar``).
_SET_BY_TRAIN_ARTIFACT = ("env_id", "seed", "checkpoint_dir", "progress_bar")
#: DQN's exploration, for methods that start without task knowledge.
COLD_EXPLORATION = {
    "exploration_fraction": 0.1,
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.05,
}


class Method:
    """A method of the comparison: how it builds a model and handles its artifact."""

    name: ClassVar[str]
    summary: ClassVar[str]
    algorithm: ClassVar[str] = "dqn"
    #: whether its start carries knowledge of the task (then it keeps the warm-start
    #: exploration; otherwise it explores as DQN from scratch)
    starts_informed: ClassVar[bool] = True
    #: whether its model is a WarmStartDQN (and so takes ``anchor_rate``)
    warm_start_dqn: ClassVar[bool] = False
    #: the artifact it needs (None: none; the others name a file the user passes)
    artifact: ClassVar[str | None] = None

    def make_env(self, family: Any, task: Any) -> gym.Env[Any, Any]:
        """An env of the task (an id, or explicit parameters) as the method's model observes
        it."""
        if isinstance(task, int):
            return family.make(task)
        return family.make(task=task)

    def build(self, env: Any, seed: int, hyperparameters: dict[str, Any], artifact: Any) -> Any:
        """The model for ``env``'s task, ready to ``learn``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ artifacts
    def load_artifact(self, env_id: str, artifact: Any) -> Any:
        """The artifact as an object: given as one, read from a path, or the default."""
        if self.artifact is None:
            if artifact is not None:
                raise ValueError(f"method {self.name!r} takes no artifact, got {artifact!r}")
            return None
        if artifact is None:
            raise ValueError(
                f"method {self.name!r} needs a {self.artifact}: train one with "
                f"`metadqn train-baseline {self.name} {env_id} --output PATH` and pass it"
            )
        if isinstance(artifact, (str, os.PathLike)):
            return self.read(Path(artifact))
        return artifact

    def read(self, path: Path) -> Any:
        raise NotImplementedError

    def train_artifact(
        self, env_id: str, *, seed: int = 0, checkpoint_dir: Path | None = None, **options: Any
    ) -> Any:
        """Meta-train the method's artifact on the family's train split."""
        raise ValueError(f"method {self.name!r} has nothing to meta-train")

    def train_options(self) -> list[options.Option]:
        """The options ``train_artifact`` accepts (``metadqn train-baseline --set``)."""
        return []

    def save_artifact(self, artifact: Any, path: Path) -> None:
        artifact.save(path)

    def record_command(self, artifact: Any, command: str) -> None:
        """Write the command that trained the artifact into its record."""
        artifact.training["command"] = command

    def cost(self, artifact: Any) -> float:
        """Meta-training cost in core-seconds, as the artifact records it (0: none)."""
        if artifact is None:
            return 0.0
        return float(artifact.training["cost"]["core_seconds"])
