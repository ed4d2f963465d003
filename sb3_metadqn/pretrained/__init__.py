"""Pretrained meta-learners shipped with the package, one per family configuration.

Each ``<env_id>.safetensors`` here was produced by ``make pretrained`` (the exact
``metadqn meta-train`` command and its settings are recorded inside the artifact, see
``metadqn info``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import gym_metatasks
from sb3_metadqn.core.meta_learner import MetaLearner
from sb3_metadqn.io.artifacts import ArtifactError

SUFFIX = ".safetensors"


def available() -> list[str]:
    """Env ids with an embedded meta-learner."""
    folder = resources.files(__name__)
    return sorted(p.name[: -len(SUFFIX)] for p in folder.iterdir() if p.name.endswith(SUFFIX))


def artifact_bytes(env_id: str) -> bytes:
    """The bytes of the meta-learner embedded for ``env_id`` (one of :func:`available`).

    :raises ValueError: when none is embedded under that id
    """
    if env_id not in available():
        raise ValueError(f"no embedded meta-learner for {env_id}; embedded: {available()}")
    return resources.files(__name__).joinpath(env_id + SUFFIX).read_bytes()


def load(family: Any) -> MetaLearner:
    """The embedded meta-learner of a family (a ``TaskFamily`` or a registered env id).

    :raises ValueError: when none is embedded for that family configuration
    """
    if isinstance(family, str):
        family = gym_metatasks.family(family)
    env_id, key = family.env_id, family.key
    if env_id not in available():
        raise ValueError(
            f"no embedded meta-learner for {env_id} ({key}); embedded: {available()}. "
            "Train one with sb3_metadqn.meta_train(...) or `metadqn meta-train` and pass "
            "meta_learner=PATH"
        )
    learner = MetaLearner.from_bytes(
        artifact_bytes(env_id), origin=f"embedded meta-learner {env_id}"
    )
    if learner.family_key != key:
        raise ArtifactError(
            f"no embedded meta-learner for family {key}: the embedded {env_id} one was "
            f"trained on {learner.family_key}. Train one with sb3_metadqn.meta_train(...) and "
            "pass meta_learner=PATH (or rebuild the embedded ones with `make pretrained`)"
        )
    return learner
