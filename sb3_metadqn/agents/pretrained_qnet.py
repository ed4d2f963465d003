"""The artifact of a pretrained task-conditioned Q-network (kind ``"task-conditioned-dqn"``):
tensors ``q_net.*`` and a JSON document with the family, the spaces, the policy
configuration, the discount and the pretraining record."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
from torch import nn

from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets.task_embedding import TaskEmbeddingExtractor, recorded_name

ARTIFACT_KIND = "task-conditioned-dqn"
_DOCUMENT_KEYS = [
    "kind",
    "env_id",
    "family_key",
    "descriptor_dim",
    "observation_space",
    "action_space",
    "policy",
    "num_timesteps",
    "gamma",
    "pretraining",
]

_POLICY_KEYS = [
    "policy_class",
    "net_arch",
    "activation_fn",
    "features_extractor_class",
    "features_extractor_kwargs",
    "normalize_images",
]


@artifacts.register
class PretrainedQNet:
    """Weights and document of a pretrained model, from an artifact or a live model."""

    kind: ClassVar[str] = ARTIFACT_KIND

    def __init__(
        self, state_dict: dict[str, torch.Tensor], document: dict[str, Any], label: str
    ) -> None:
        self.state_dict = state_dict
        self.document = document
        self.label = label

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> PretrainedQNet:
        """Check a :meth:`TaskConditionedDQN.save_pretrained` artifact's parts.

        :raises ArtifactError: for anything but a complete task-conditioned DQN artifact
        """
        if document.get("kind") != ARTIFACT_KIND:
            raise ArtifactError(
                f"{origin} is a {document.get('kind')!r} artifact, not a {ARTIFACT_KIND!r} one "
                "(write it with TaskConditionedDQN.save_pretrained)"
            )
        artifacts.require(document, _DOCUMENT_KEYS, origin)
        policy = document["policy"]
        if not isinstance(policy, dict):
            raise ArtifactError(f"{origin}: 'policy' must be a dict, got {policy!r}")
        artifacts.require(policy, _POLICY_KEYS, f"{origin} 'policy'")
        net_arch = policy["net_arch"]
        if not isinstance(net_arch, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in net_arch
        ):
            raise ArtifactError(
                f"{origin}: 'policy.net_arch' must be a list of sizes, got {net_arch!r}"
            )
        if not isinstance(policy["features_extractor_kwargs"], dict):
            raise ArtifactError(f"{origin}: 'policy.features_extractor_kwargs' must be a dict")
        gamma = document["gamma"]
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
            raise ArtifactError(f"{origin}: 'gamma' must be a number in [0, 1], got {gamma!r}")
        foreign = sorted(k for k in tensors if not k.startswith("q_net."))
        if foreign or not tensors:
            raise ArtifactError(
                f"{origin} must hold only q_net.* tensors, found {foreign or 'none'}"
            )
        state = {k[len("q_net.") :]: v for k, v in tensors.items()}
        return cls(state, document, origin)

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``: the artifact's document."""
        return self.document

    @property
    def gamma(self) -> float:
        """The discount the pretrained Q-values were trained for."""
        return float(self.document["gamma"])

    def policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` that rebuild the pretrained architecture."""
        config = self.document["policy"]
        origin = self.label
        if config.get("features_extractor_class") != recorded_name(TaskEmbeddingExtractor):
            raise ArtifactError(
                f"{origin} uses the features extractor {config.get('features_extractor_class')}; "
                "pass policy_kwargs that build it"
            )
        activation_name = str(config.get("activation_fn", ""))
        module, _, name = activation_name.rpartition(".")
        activation = getattr(nn, name, None) if module.startswith("torch.nn") else None
        if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
            raise ArtifactError(
                f"{origin} uses the activation {activation_name!r}; pass policy_kwargs that "
                "build it"
            )
        return {
            "net_arch": [int(n) for n in config["net_arch"]],
            "activation_fn": activation,
            "features_extractor_class": TaskEmbeddingExtractor,
            "features_extractor_kwargs": dict(config["features_extractor_kwargs"]),
            "normalize_images": bool(config["normalize_images"]),
        }


def read_pretrained(path: str | os.PathLike[str]) -> PretrainedQNet:
    """Read and check a :meth:`TaskConditionedDQN.save_pretrained` artifact (never unpickles).

    :raises ArtifactError: for anything but a complete task-conditioned DQN artifact
    """
    source = f"pretrained={str(path)!r}"
    try:
        tensors, document = artifacts.read(path)
    except ArtifactError as error:
        hint = ""
        if "zip archive" in str(error):
            hint = (
                "; for an SB3 zip use TaskConditionedDQN.load(path) and pass the model as "
                "pretrained=, or write an artifact with save_pretrained"
            )
        raise ArtifactError(f"{error}{hint}") from error
    return PretrainedQNet.from_parts(tensors, document, source)
