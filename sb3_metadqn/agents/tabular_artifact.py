"""The artifact of a saved tabular Q-learning model (kind ``"tabular-q-learning"``): the
Q-table, the env's last observation, and a JSON document with hyperparameters, spaces,
counters, exploration and random-generator state. Written and read through
:mod:`sb3_metadqn.io.artifacts`, never pickled."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule

from sb3_metadqn._checks import check_number
from sb3_metadqn._version import __version__
from sb3_metadqn.agents.tabular_policy import StateIndex, check_action_space
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.spaces import describe_space, same_space, space_from_description

KIND = "tabular-q-learning"
# Hyperparameters a saved model records and ``load(**kwargs)`` may override.
HYPERPARAMETERS = (
    "learning_rate",
    "gamma",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_table_entries",
    "stats_window_size",
    "seed",
)
LOAD_OVERRIDES = frozenset(HYPERPARAMETERS) - {"max_table_entries", "seed"} | {
    "verbose",
    "tensorboard_log",
}


def schedule_document(schedule: float | Schedule) -> dict[str, Any]:
    """JSON form of a float or an SB3 constant/linear schedule (other callables: by repr)."""
    if isinstance(schedule, FloatSchedule):
        return schedule_document(schedule.value_schedule)
    if isinstance(schedule, (int, float)):
        return {"type": "constant", "value": float(schedule)}
    if isinstance(schedule, ConstantSchedule):
        return {"type": "constant", "value": float(schedule.val)}
    if isinstance(schedule, LinearSchedule):
        return {
            "type": "linear",
            "start": float(schedule.start),
            "end": float(schedule.end),
            "end_fraction": float(schedule.end_fraction),
        }
    return {"type": "callable", "repr": repr(schedule)}


def schedule_from_document(document: Any, origin: str) -> float | Schedule:
    if not isinstance(document, dict) or "type" not in document:
        raise ArtifactError(f"{origin}: learning_rate {document!r} is not a schedule document")
    if document["type"] == "constant":
        return float(document["value"])
    if document["type"] == "linear":
        return LinearSchedule(
            float(document["start"]), float(document["end"]), float(document["end_fraction"])
        )
    raise ArtifactError(
        f"{origin} was trained with the learning-rate schedule {document.get('repr')}, which "
        "cannot be stored without pickle; pass learning_rate= to load()"
    )


def rng_from_state(state: Any, origin: str) -> np.random.Generator:
    generator = np.random.Generator(np.random.PCG64())
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise ArtifactError(f"{origin}: invalid random generator state: {error}") from error
    return generator


def check_load_overrides(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - LOAD_OVERRIDES)
    if unknown:
        raise TypeError(
            f"load() got unexpected keyword argument(s) {unknown}; allowed: "
            f"{sorted(LOAD_OVERRIDES)}"
        )


def model_tensors(model: Any) -> dict[str, torch.Tensor]:
    """The tensors of a saved model: the table, and the env's current observation (for
    ``load(..., force_reset=False)``)."""
    tensors = {"q_table": model.policy.q_table}
    if model._last_obs is not None and model._last_episode_starts is not None:
        tensors["last_obs"] = torch.from_numpy(np.ascontiguousarray(model._last_obs))
        tensors["last_episode_starts"] = torch.from_numpy(
            np.ascontiguousarray(model._last_episode_starts, dtype=bool)
        )
    return tensors


def model_info(model: Any) -> dict[str, Any]:
    """A tabular model's summary for ``metadqn info``."""
    return {
        "kind": KIND,
        "algorithm": type(model).__name__,
        "hyperparameters": model.hyperparameters(),
        "num_timesteps": model.num_timesteps,
        "observation_space": describe_space(model.observation_space),
        "action_space": describe_space(model.action_space),
        "meta_init": model.meta_init,
    }


def model_document(model: Any) -> dict[str, Any]:
    """The JSON document of a saved model."""
    return {
        "kind": KIND,
        "algorithm": type(model).__name__,
        "package_version": __version__,
        "hyperparameters": model.hyperparameters(),
        "observation_space": describe_space(model.observation_space),
        "action_space": describe_space(model.action_space),
        "n_envs": model.n_envs,
        "num_timesteps": model.num_timesteps,
        "total_timesteps": model._total_timesteps,
        "episode_num": model._episode_num,
        "n_updates": model._n_updates,
        "exploration": {
            "exploration_rate": model.exploration_rate,
            "progress_remaining": model._current_progress_remaining,
        },
        "rng": {
            "learn": model._rng.bit_generator.state,
            "predict": model._predict_rng.bit_generator.state,
        },
        "meta_init": model.meta_init,
    }


def check_document(document: dict[str, Any], origin: str, algorithm: str | None) -> None:
    """Raise :class:`ArtifactError` unless ``document`` is a complete model document (of
    ``algorithm``, when given)."""
    keys = [
        "kind", "algorithm", "hyperparameters", "observation_space", "action_space",
        "n_envs", "num_timesteps", "total_timesteps", "episode_num", "n_updates",
        "exploration", "rng", "meta_init",
    ]  # fmt: skip
    artifacts.require(document, ["kind"], origin)
    if document["kind"] != KIND:
        raise ArtifactError(f"{origin} holds a {document['kind']!r}, not a {KIND!r}")
    artifacts.require(document, keys, origin)
    if algorithm is not None and document["algorithm"] != algorithm:
        raise ArtifactError(
            f"{origin} holds a {document['algorithm']}; load it with "
            f"{document['algorithm']}.load (or TabularQLearning.load)"
        )
    hyper = document["hyperparameters"]
    if not isinstance(hyper, dict):
        raise ArtifactError(f"{origin}: hyperparameters is not a JSON object")
    artifacts.require(hyper, list(HYPERPARAMETERS), origin + " (hyperparameters)")
    artifacts.require(document["exploration"], ["exploration_rate", "progress_remaining"], origin)
    artifacts.require(document["rng"], ["learn", "predict"], origin)
    for key in ("num_timesteps", "total_timesteps", "episode_num", "n_updates", "n_envs"):
        value = document[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ArtifactError(f"{origin}: {key} must be a non-negative int, got {value!r}")


def saved_arguments(
    document: dict[str, Any], origin: str, overrides: dict[str, Any]
) -> dict[str, Any]:
    """The constructor arguments a document records, with ``overrides`` (``load``'s kwargs)."""
    hyper = dict(document["hyperparameters"])
    if "learning_rate" not in overrides:
        hyper["learning_rate"] = schedule_from_document(hyper["learning_rate"], origin)
    hyper.update(overrides)
    return {
        **{k: hyper[k] for k in HYPERPARAMETERS},
        **{k: v for k, v in overrides.items() if k not in HYPERPARAMETERS},
    }


def check_env_spaces(document: dict[str, Any], env: Any) -> None:
    """Raise ``ValueError`` unless ``env``'s spaces are the saved model's."""
    for name, saved, theirs in (
        ("observation space", document["observation_space"], env.observation_space),
        ("action space", document["action_space"], env.action_space),
    ):
        if not same_space(saved, describe_space(theirs)):
            raise ValueError(f"env: its {name} {theirs} differs from the saved model's {saved}")


def saved_spaces(
    document: dict[str, Any], origin: str
) -> tuple[spaces.Space[Any], spaces.Space[Any]]:
    """The observation and action spaces a document describes (tabular ones only)."""
    try:
        observation_space = space_from_description(document["observation_space"])
        action_space = space_from_description(document["action_space"])
        StateIndex(observation_space)
        check_action_space(action_space)
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{origin} has invalid spaces: {error}") from error
    return observation_space, action_space


def saved_table(
    tensors: dict[str, torch.Tensor],
    observation_space: spaces.Space[Any],
    action_space: spaces.Space[Any],
    origin: str,
) -> NDArray[np.float64]:
    """The saved Q-table, checked against the spaces."""
    shape = (StateIndex(observation_space).n_states, int(action_space.n))  # type: ignore[attr-defined]
    artifacts.require(tensors, ["q_table"], origin)
    table = tensors["q_table"]
    if table.dtype != torch.float64 or tuple(table.shape) != shape:
        raise ArtifactError(
            f"{origin}: q_table is {table.dtype} of shape {tuple(table.shape)}, expected "
            f"float64 of shape {shape} for its spaces"
        )
    if not torch.isfinite(table).all():
        raise ArtifactError(f"{origin}: q_table holds NaN or inf")
    return table.numpy()


def restore_state(
    model: Any,
    document: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    origin: str,
    *,
    force_reset: bool,
) -> None:
    """Put a saved model's counters, exploration, generators, ``meta_init`` and (unless
    ``force_reset``) the env's last observation into ``model``."""
    model.num_timesteps = document["num_timesteps"]
    model._total_timesteps = document["total_timesteps"]
    model._episode_num = document["episode_num"]
    model._n_updates = document["n_updates"]
    exploration = document["exploration"]
    try:
        model.exploration_rate = check_number(
            "exploration_rate", exploration["exploration_rate"], 0.0, 1.0
        )
        model._current_progress_remaining = float(exploration["progress_remaining"])
    except (TypeError, ValueError) as error:
        raise ArtifactError(f"{origin}: invalid exploration state: {error}") from error
    model._rng = rng_from_state(document["rng"]["learn"], origin)
    model._predict_rng = rng_from_state(document["rng"]["predict"], origin)
    meta_init = document["meta_init"]
    if meta_init is not None and not isinstance(meta_init, dict):
        raise ArtifactError(f"{origin}: meta_init must be a JSON object or null")
    model.meta_init = meta_init
    if force_reset or "last_obs" not in tensors:
        model._last_obs = None
        return
    saved_envs = document["n_envs"]
    if model.n_envs != saved_envs:
        raise ValueError(
            f"force_reset=False continues the saved episodes of {saved_envs} sub-env(s); "
            f"the env has {model.n_envs}"
        )
    last_obs = tensors["last_obs"].numpy()
    try:
        model.state_index(last_obs)
    except ValueError as error:
        raise ArtifactError(f"{origin}: invalid last_obs: {error}") from error
    if len(last_obs) != saved_envs or "last_episode_starts" not in tensors:
        raise ArtifactError(f"{origin}: last_obs does not hold {saved_envs} observations")
    model._last_obs = last_obs
    model._last_episode_starts = tensors["last_episode_starts"].numpy()


def load_model(
    cls: type[Any],
    tensors: dict[str, torch.Tensor],
    document: dict[str, Any],
    origin: str,
    algorithm: str | None,
    env: Any,
    device: torch.device | str,
    force_reset: bool,
    overrides: dict[str, Any],
) -> Any:
    """A ``cls`` model rebuilt from a saved model's tensors and document (see
    ``TabularQLearning.load``); ``algorithm``: the class the document must name, if any."""
    check_load_overrides(overrides)
    check_document(document, origin, algorithm)
    arguments = saved_arguments(document, origin, overrides)
    observation_space, action_space = saved_spaces(document, origin)
    if env is not None:
        env = cls._wrap_env(env, int(overrides.get("verbose", 0)))
        check_env_spaces(document, env)
    try:
        model = cls(
            env=env,
            device=device,
            _init_setup_model=False,
            **arguments,
        )
    except (TypeError, ValueError) as error:
        if isinstance(error, ArtifactError):
            raise
        raise ArtifactError(f"{origin} holds invalid hyperparameters: {error}") from error
    model.observation_space, model.action_space = observation_space, action_space
    model._build(saved_table(tensors, observation_space, action_space, origin))
    restore_state(model, document, tensors, origin, force_reset=force_reset or env is None)
    return model
