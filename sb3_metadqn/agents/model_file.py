"""Pickle-free model files of the warm-started DQNs (``WarmStartDQN``, ``MetaDQN``,
``TaskConditionedDQN``): one safetensors artifact of kind ``"dqn-model"``.

Tensors: the policy's parameters (``policy.*``: Q-network and target network), the
optimizer's state (``optimizer.*``), the anchor (``anchor.<k>``) and the initializer's tensors
(``initializer.*``). JSON document: the class, the policy alias, the constructor's settings,
the spaces, the counters, ``meta_init`` and the initializer's document. Reading never
unpickles; classes in ``policy_kwargs`` are stored by name and read back only from an
allow-list (``torch.nn`` modules, ``torch.optim`` optimizers, the task-embedding extractor).
SB3's zip format (``.zip``) stays available; its ``data`` entry is unpickled on load, so a zip
must come from a trusted source.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, ClassVar

import torch
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.utils import check_for_correct_spaces

from sb3_metadqn.agents.task_env import env_attr
from sb3_metadqn.core.initializer import Initializer
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.checkpoints import load_optimizer_state, optimizer_state
from sb3_metadqn.io.spaces import describe_space, same_space, space_from_description
from sb3_metadqn.nets.task_embedding import TaskEmbeddingExtractor, recorded_name

KIND = "dqn-model"
SUFFIX = ".safetensors"
#: Constructor arguments stored in the document (where the class takes them).
SETTINGS = (
    "learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "gamma",
    "train_freq", "gradient_steps", "optimize_memory_usage", "n_steps",
    "target_update_interval", "exploration_fraction", "exploration_initial_eps",
    "exploration_final_eps", "max_grad_norm", "stats_window_size", "verbose", "seed",
    "policy_kwargs", "anchor_rate", "action_anchor", "meta_candidates", "meta_probe_steps",
    "meta_probe_episodes", "task_descriptor",
)  # fmt: skip
#: Training counters restored so that ``learn(..., reset_num_timesteps=False)`` continues.
COUNTERS = (
    "num_timesteps", "_n_updates", "_n_calls", "_episode_num", "exploration_rate",
    "_current_progress_remaining",
)  # fmt: skip
_ATTRIBUTE = {"stats_window_size": "_stats_window_size"}


#: The JSON types of a model file's document.
DOCUMENT_TYPES: dict[str, Any] = {
    "class": str, "policy": str, "settings": dict, "observation_space": dict,
    "action_space": dict, "counters": dict, "param_groups": list,
    "meta_init": (dict, type(None)), "initializer": (dict, type(None)),
}  # fmt: skip


@artifacts.register
class ModelFile:
    """What ``metadqn info`` shows of a model file (load the model itself with its class's
    ``load``)."""

    kind: ClassVar[str] = KIND

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> ModelFile:
        artifacts.check_fields(document, DOCUMENT_TYPES, origin)
        return cls(document)

    def info(self) -> dict[str, Any]:
        initializer = self.document["initializer"] or {}
        return {
            "kind": KIND,
            "class": self.document["class"],
            "policy": self.document["policy"],
            "settings": self.document["settings"],
            "num_timesteps": self.document["counters"].get("num_timesteps"),
            "meta_init": self.document["meta_init"],
            "initializer": initializer.get("kind"),
        }


def is_model_file(path: Any) -> bool:
    """Whether ``path`` names a pickle-free model file (a path ending in ``.safetensors``)."""
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).endswith(SUFFIX)


# ---------------------------------------------------------------------- writing
def save_model_file(model: Any, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write ``model`` as a pickle-free model file, atomically.

    :raises ValueError: naming the setting that only a pickle could store (a schedule, a
        custom class); SB3's ``.zip`` format stores those
    """
    target = pathlib.Path(path)
    origin = f"model file {str(target)!r}"
    tensors = {f"policy.{k}": v for k, v in model.policy.state_dict().items()}
    optimizer_tensors, param_groups = optimizer_state(model.policy.optimizer)
    tensors.update(optimizer_tensors)
    for k, tensor in enumerate(model._anchor or []):
        tensors[f"anchor.{k}"] = tensor
    initializer = getattr(model, "initializer", None)
    if initializer is not None:
        tensors.update({f"initializer.{k}": v for k, v in initializer.tensors().items()})
    document = {
        "kind": KIND,
        "class": type(model).__name__,
        "policy": _policy_alias(model, origin),
        "settings": _settings(model, origin),
        "observation_space": describe_space(model.observation_space),
        "action_space": describe_space(model.action_space),
        "counters": {name: getattr(model, name) for name in COUNTERS},
        "param_groups": param_groups,
        "meta_init": model.meta_init,
        "pretraining": getattr(model, "pretraining", None),
        "initializer": None if initializer is None else initializer.document(),
    }
    return artifacts.write(target, tensors, document)


def _policy_alias(model: Any, origin: str) -> str:
    for alias, policy_class in model.policy_aliases.items():
        if policy_class is model.policy_class:
            return str(alias)
    raise ValueError(
        f"cannot write {origin}: policy {model.policy_class.__name__} is not one of "
        f"{sorted(model.policy_aliases)}; save as .zip (SB3's format) instead"
    )


def _settings(model: Any, origin: str) -> dict[str, Any]:
    refused = set(getattr(type(model), "_refused_arguments", ()))
    if model.replay_buffer_class not in (None, ReplayBuffer, DictReplayBuffer) or (
        model.replay_buffer_kwargs
    ):
        raise ValueError(
            f"cannot write {origin}: replay_buffer_class/replay_buffer_kwargs are stored only "
            "by SB3's .zip format; save as .zip instead"
        )
    settings: dict[str, Any] = {}
    for name in SETTINGS:
        if name in refused or not hasattr(model, _ATTRIBUTE.get(name, name)):
            continue
        value = getattr(model, _ATTRIBUTE.get(name, name))
        if name == "learning_rate" and callable(value):
            raise ValueError(
                f"cannot write {origin}: learning_rate is a schedule (a function), which only "
                "a pickle stores; save as .zip (SB3's format) instead"
            )
        if name == "train_freq":
            value = [int(value.frequency), str(value.unit.value)]
        if name == "policy_kwargs":
            value = {k: _encode(f"policy_kwargs[{k!r}]", v, origin) for k, v in value.items()}
        settings[name] = value
    return settings


def _encode(name: str, value: Any, origin: str) -> Any:
    """A ``policy_kwargs`` value as JSON: classes by name (allow-listed on reading)."""
    if isinstance(value, type):
        if _decode_class(recorded_name(value)) is not value:
            raise ValueError(
                f"cannot write {origin}: {name} is the class {recorded_name(value)}, which a "
                "model file cannot name (torch.nn modules, torch.optim optimizers and "
                "TaskEmbeddingExtractor only); save as .zip (SB3's format) instead"
            )
        return {"class": recorded_name(value)}
    if isinstance(value, dict):
        return {k: _encode(f"{name}[{k!r}]", v, origin) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(f"{name}[{k}]", v, origin) for k, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"cannot write {origin}: {name} is a {type(value).__name__}, not JSON; save as .zip "
        "(SB3's format) instead"
    )


def _decode_class(name: str) -> type | None:
    if name == recorded_name(TaskEmbeddingExtractor):
        return TaskEmbeddingExtractor
    module, _, attribute = name.rpartition(".")
    for namespace, base in ((torch.nn, torch.nn.Module), (torch.optim, torch.optim.Optimizer)):
        found = getattr(namespace, attribute, None)
        if (
            module.startswith(namespace.__name__)
            and isinstance(found, type)
            and issubclass(found, base)
            and recorded_name(found) == name
        ):
            return found
    return None


def _decode(value: Any, origin: str) -> Any:
    if isinstance(value, dict) and set(value) == {"class"}:
        found = _decode_class(str(value["class"]))
        if found is None:
            raise ArtifactError(
                f"{origin}: policy_kwargs names an unknown class {value['class']!r}"
            )
        return found
    if isinstance(value, dict):
        return {k: _decode(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, origin) for v in value]
    return value


# ---------------------------------------------------------------------- reading
def load_model_file(
    cls: Any, path: str | os.PathLike[str], env: Any = None, device: Any = "auto", **kwargs: Any
) -> Any:
    """The model a :func:`save_model_file` file holds, as ``cls`` (the class it was saved
    from). ``kwargs`` override the stored settings.

    :raises ArtifactError: naming the file when it is not a complete model file of ``cls``
    """
    target = pathlib.Path(path)
    origin = f"model file {str(target)!r}"
    tensors, document = artifacts.read(target)
    if document.get("kind") != KIND:
        raise ArtifactError(
            f"{origin} holds a {document.get('kind')!r} artifact, not a model "
            f"(an initializer goes to the model's constructor, not to {cls.__name__}.load)"
        )
    artifacts.check_fields(document, DOCUMENT_TYPES, origin)
    if document["class"] != cls.__name__:
        raise ArtifactError(
            f"{origin} holds a {document['class']}; load it with {document['class']}.load"
        )
    settings = _decode(dict(document["settings"]), origin)
    if "train_freq" in settings:
        settings["train_freq"] = tuple(settings["train_freq"])
    settings.update(kwargs)
    if env is None:
        try:
            spaces = [
                space_from_description(document[k]) for k in ("observation_space", "action_space")
            ]
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{origin}: pass env= to load this model ({error})") from error
    model = cls(document["policy"], env, device=device, _init_setup_model=False, **settings)
    if env is None:
        model.observation_space, model.action_space = spaces
        model.n_envs = 1
    elif not (
        same_space(describe_space(model.observation_space), document["observation_space"])
        and same_space(describe_space(model.action_space), document["action_space"])
    ):
        raise ValueError(
            f"env has observation space {model.observation_space} and action space "
            f"{model.action_space}; {origin} was saved with {document['observation_space']} "
            f"and {document['action_space']}"
        )
    model._meta_loading = True
    model._setup_model()
    model._meta_loading = False
    _restore(model, tensors, document, origin)
    if env is not None:
        check_for_correct_spaces(model.env, model.observation_space, model.action_space)
    return model


def _restore(
    model: Any, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
) -> None:
    """Put the file's parameters, optimizer state, anchor, counters and records into a model
    built with its settings."""
    policy = {k[7:]: v for k, v in tensors.items() if k.startswith("policy.")}
    expected = {k: v.shape for k, v in model.policy.state_dict().items()}
    if {k: v.shape for k, v in policy.items()} != expected:
        raise ArtifactError(
            f"{origin}: its policy tensors do not match a {document['policy']} of its settings"
        )
    model.policy.load_state_dict(policy)
    try:
        load_optimizer_state(model.policy.optimizer, tensors, document["param_groups"])
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise ArtifactError(f"{origin}: invalid optimizer state ({error})") from error
    params = list(model.q_net.parameters())
    anchor = [tensors.get(f"anchor.{k}") for k in range(len(params))]
    if all(t is None for t in anchor):
        model._anchor = None  # saved without one (a model that started cold)
    elif any(t is None for t in anchor):
        raise ArtifactError(f"{origin}: its anchor does not match the Q-network's parameters")
    else:
        if [t.shape for t in anchor] != [p.shape for p in params]:  # type: ignore[union-attr]
            raise ArtifactError(f"{origin}: its anchor does not match the Q-network's parameters")
        model._anchor = [t.to(model.device) for t in anchor]  # type: ignore[union-attr]
    for name, value in document["counters"].items():
        if name in COUNTERS:
            setattr(model, name, value)
    model.meta_init = document["meta_init"]
    if hasattr(model, "pretraining"):
        model.pretraining = document.get("pretraining")
    if document["initializer"] is not None:
        parts = {k[12:]: v for k, v in tensors.items() if k.startswith("initializer.")}
        model.initializer = Initializer._dispatch(
            parts, document["initializer"], f"{origin} (its initializer)"
        )


def check_same_task(model: Any, env: Any) -> None:
    """Refuse an env whose task is not the one the model was initialized for (its
    ``meta_init`` would describe another task's start).

    :raises ValueError: naming both task ids
    """
    recorded = (model.meta_init or {}).get("task_id")
    task_ids = env_attr(env, "task_id") or []
    if recorded is None or not task_ids or None in task_ids:
        return
    if any(int(t) != int(recorded) for t in task_ids):
        raise ValueError(
            f"env holds task {sorted(set(task_ids))} but the model was initialized for task "
            f"{recorded} (meta_init); build a new {type(model).__name__}(policy, env) for "
            "another task, or load with an env of that task"
        )
