"""Task-conditioned DQN, the "Q-learning in meta-learning" baseline: one Q-network reads
the state next to a learned embedding of the task descriptor, is trained on many train-split
tasks at once (a new task at every reset, :func:`pretrain`), and is adapted to a new task by
continued training (``TaskConditionedDQN(..., pretrained=...)``).

>>> import gym_metatasks
>>> from sb3_metadqn.task_conditioned import TaskConditionedDQN, pretrain
>>> model = pretrain("MetaNav-v0", 200_000, seed=0)  # doctest: +SKIP
>>> model.save_pretrained("nav-tc.safetensors")  # doctest: +SKIP
>>> family = gym_metatasks.family("MetaNav-v0")  # doctest: +SKIP
>>> adapted = TaskConditionedDQN(
...     "MultiInputPolicy", family.make(800), pretrained="nav-tc.safetensors"
... )  # doctest: +SKIP
>>> adapted.learn(2_000)  # doctest: +SKIP
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar, cast

import numpy as np
import stable_baselines3
import torch
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import DictReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

import gym_metatasks
from gym_metatasks.atomic_io import write_atomic
from gym_metatasks.family import Split
from gym_metatasks.wrappers import ObserveDescriptor, ResampleTask
from gym_metatasks.wrappers.observe_descriptor import DESCRIPTOR_KEY
from sb3_metadqn import artifacts
from sb3_metadqn.artifacts import ArtifactError
from sb3_metadqn.meta_learner import describe_space
from sb3_metadqn.task_env import env_attr

__all__ = [
    "ARTIFACT_KIND",
    "DEFAULT_PRETRAIN_TIMESTEPS",
    "PRETRAIN_DQN_KWARGS",
    "TaskConditionedDQN",
    "TaskEmbeddingExtractor",
    "pretrain",
    "read_pretrained",
]

ARTIFACT_KIND = "task-conditioned-dqn"
CHECKPOINT_KIND = "task-conditioned-dqn-checkpoint"
DEFAULT_TOTAL_TIMESTEPS = 20_000
DEFAULT_PRETRAIN_TIMESTEPS = 200_000
DEFAULT_NET_ARCH = (256, 256)
WARM_START_EPS = 0.05
#: DQN's exploration defaults, used when no ``pretrained`` model is given.
COLD_START_INITIAL_EPS = 1.0
DEFAULT_FINAL_EPS = 0.05
#: DQN's discount, used when no ``pretrained`` model is given.
DEFAULT_GAMMA = 0.99
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

SelfTaskConditionedDQN = TypeVar("SelfTaskConditionedDQN", bound="TaskConditionedDQN")


# ---------------------------------------------------------------------- features extractor
class TaskEmbeddingExtractor(BaseFeaturesExtractor):
    """Features of a ``Dict`` observation holding ``"task_descriptor"``: the flattened,
    preprocessed observation next to an embedding of the descriptor (linear by default, an
    MLP with ``embedding_net_arch``).

    Every key other than ``"task_descriptor"`` is part of the observation (``"observation"``
    for :class:`~gym_metatasks.ObserveDescriptor` ``mode="dict"``), flattened in sorted key
    order after SB3's preprocessing (``Discrete`` one-hot, images scaled).

    Features ``[obs, e(d)]`` have shape ``(batch, obs_dim + embedding_dim)``.

    :param observation_space: the ``Dict`` observation space
    :param embedding_dim: size of the descriptor embedding
    :param embedding_net_arch: hidden layers (ReLU) of the descriptor MLP (default none: a
        linear embedding, chosen on validation tasks, see :class:`TaskConditionedDQN`)
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        embedding_dim: int = 32,
        embedding_net_arch: Sequence[int] = (),
    ) -> None:
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(
                f"TaskEmbeddingExtractor needs a Dict observation space with a "
                f"{DESCRIPTOR_KEY!r} key, got {observation_space}; wrap the env with "
                f'gym_metatasks.ObserveDescriptor(env, mode="dict")'
            )
        if DESCRIPTOR_KEY not in observation_space.spaces:
            raise ValueError(
                f"the Dict observation space has no {DESCRIPTOR_KEY!r} key (keys: "
                f"{sorted(observation_space.spaces)}); wrap the env with "
                f'gym_metatasks.ObserveDescriptor(env, mode="dict")'
            )
        descriptor_space = observation_space.spaces[DESCRIPTOR_KEY]
        if not isinstance(descriptor_space, spaces.Box) or len(descriptor_space.shape) != 1:
            raise ValueError(f"{DESCRIPTOR_KEY!r} must be a 1-D Box space, got {descriptor_space}")
        observation_keys = sorted(k for k in observation_space.spaces if k != DESCRIPTOR_KEY)
        if not observation_keys:
            raise ValueError(
                f"the Dict observation space holds only {DESCRIPTOR_KEY!r}; it needs an "
                "observation key too (e.g. 'observation')"
            )
        _check_positive_int(embedding_dim, "embedding_dim")
        hidden = [_check_positive_int(h, "embedding_net_arch entries") for h in embedding_net_arch]
        obs_dim = sum(int(get_flattened_obs_dim(observation_space[k])) for k in observation_keys)
        super().__init__(observation_space, features_dim=obs_dim + embedding_dim)
        self.observation_keys = observation_keys
        self.embedding_dim = int(embedding_dim)
        self.embedding_net_arch = hidden
        layers: list[nn.Module] = []
        width = int(descriptor_space.shape[0])
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, embedding_dim))
        self.embedding = nn.Sequential(*layers)
        self.flatten = nn.Flatten()

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-ready."""
        return {
            "embedding_dim": self.embedding_dim,
            "embedding_net_arch": list(self.embedding_net_arch),
        }

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(batch, features_dim)`` features of a preprocessed observation batch."""
        obs = torch.cat([self.flatten(observations[k]) for k in self.observation_keys], dim=1)
        return torch.cat([obs, self.embedding(observations[DESCRIPTOR_KEY])], dim=1)


def default_policy_kwargs() -> dict[str, Any]:
    """The ``policy_kwargs`` :class:`TaskConditionedDQN` starts from (user values override)."""
    return {
        "net_arch": list(DEFAULT_NET_ARCH),
        "features_extractor_class": TaskEmbeddingExtractor,
        "features_extractor_kwargs": {},
    }


# ---------------------------------------------------------------------- env handling
def condition_env(env: GymEnv) -> GymEnv:
    """``env`` with the task descriptor in its ``Dict`` observation.

    An env or VecEnv whose ``Dict`` observation already holds ``"task_descriptor"`` is
    returned as is; a gym_metatasks env is wrapped with ``ObserveDescriptor(env, mode="dict")``.

    :raises ValueError: for anything else, naming the env and its observation space
    """
    space = env.observation_space
    if isinstance(space, spaces.Dict) and DESCRIPTOR_KEY in space.spaces:
        return env
    if isinstance(env, VecEnv):
        raise ValueError(
            f"TaskConditionedDQN needs the task descriptor in the observation; the VecEnv "
            f"{env} has observation space {space}. Wrap every sub-env, e.g. make_vec_env(..., "
            f'wrapper_class=gym_metatasks.ObserveDescriptor, wrapper_kwargs={{"mode": "dict"}})'
        )
    if getattr(env.unwrapped, "family", None) is not None:
        return ObserveDescriptor(env, mode="dict")
    raise ValueError(
        f"TaskConditionedDQN needs a gym_metatasks env (a task family) or an env whose Dict "
        f"observation holds {DESCRIPTOR_KEY!r}; got {env} with observation space {space}. "
        f'Pass a gym_metatasks env or gym_metatasks.ObserveDescriptor(env, mode="dict")'
    )


# ---------------------------------------------------------------------- the agent
class TaskConditionedDQN(DQN):
    """Deep Q-Network conditioned on the task: ``Q(s, a; e(d))`` with a learned embedding
    ``e`` of the task descriptor ``d`` (the "Q-learning in meta-learning" baseline of the
    project's DESIGN.md: a task embedding joins the state and one network serves many tasks).

    Everything of :class:`stable_baselines3.DQN` keeps working; use ``"MultiInputPolicy"``.
    A gym_metatasks env (or env id) is wrapped with
    ``gym_metatasks.ObserveDescriptor(env, mode="dict")``; an env or VecEnv whose ``Dict``
    observation already holds ``"task_descriptor"`` is used as is. Train on many tasks with
    :func:`pretrain`, write the result with :meth:`save_pretrained`, and adapt to a new task
    with ``TaskConditionedDQN(policy, env, pretrained=path)`` followed by ``learn``.

    Defaults differ from DQN's where a measurement said so (where each was chosen: the
    benchmarks README, "Settings and where they were chosen"):

    - ``learning_rate=5e-4``, ``target_update_interval=500``, ``batch_size=64``,
      ``learning_starts=1_000``: with DQN's 1e-4 and 10,000 one MetaNav task was not
      learned in 40,000 steps; with these it was solved after 15,000.
    - ``buffer_size=100_000``: DQN's 1e6 Dict observations would take ~1 GB on MetaNav.
    - ``policy_kwargs``: :class:`TaskEmbeddingExtractor` (a linear 32-dim embedding) and
      ``net_arch=[256, 256]``. The embedding was chosen on the validation tasks of
      MetaNav-v0 and MetaFrozenLake-v0 (jumpstart after :func:`pretrain` and
      :func:`~sb3_metadqn.task_conditioned_oracle.pretrain_oracle`) over one hidden layer
      of 64 and over a 128-dim embedding.
    - ``gamma``: DQN's 0.99; with ``pretrained``, the discount its Q-values were trained
      for (:func:`pretrain` uses 0.95).
    - exploration: DQN's (epsilon 1 -> 0.05 over 10% of training) without ``pretrained``.
      With it, unset arguments default to the warm start ``exploration_initial_eps =
      exploration_final_eps = 0.05``: an agent that restarts at epsilon 1 throws its head
      start away.

    :param learning_rate: as DQN's (default 5e-4, see above)
    :param buffer_size: as DQN's (default 100,000)
    :param learning_starts: as DQN's (default 1,000)
    :param batch_size: as DQN's (default 64)
    :param gamma: discount (None: the pretrained model's, else 0.99)
    :param target_update_interval: as DQN's (default 500)
    :param exploration_initial_eps: initial epsilon (None: 0.05 with ``pretrained``, else 1.0)
    :param exploration_final_eps: final epsilon (None: 0.05)
    :param policy_kwargs: merged over the defaults above, or over the pretrained model's
        configuration when ``pretrained`` is given
    :param pretrained: a multi-task model to start from: a :meth:`save_pretrained` artifact
        (path) or a :class:`TaskConditionedDQN`. Its weights go into ``q_net`` and
        ``q_net_target``. Its family, spaces and policy configuration must match; without
        ``policy_kwargs`` the pretrained configuration is used. Not saved by :meth:`save`.

    The other parameters are :class:`stable_baselines3.DQN`'s. After a pretrained start,
    ``model.meta_init`` is a dict: the pretrained source, its env id, pretraining steps,
    seed and cost, the env's task id, whether pretraining drew that task, and the
    exploration and discount in use. Its numeric entries are logged under ``meta_init/`` when
    ``learn`` starts. Otherwise ``meta_init`` is None. After :func:`pretrain`,
    ``model.pretraining`` records the run.
    """

    meta_init: dict[str, Any] | None
    pretraining: dict[str, Any] | None
    _extra_excluded: ClassVar[tuple[str, ...]] = ("_pretrained_source",)

    def __init__(
        self,
        policy: str | type[DQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 5e-4,
        buffer_size: int = 100_000,
        learning_starts: int = 1_000,
        batch_size: int = 64,
        tau: float = 1.0,
        gamma: float | None = None,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        replay_buffer_class: Any = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int = 500,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float | None = None,
        exploration_final_eps: float | None = None,
        max_grad_norm: float = 10,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
        *,
        pretrained: str | os.PathLike[str] | TaskConditionedDQN | None = None,
    ) -> None:
        source = None if pretrained is None else _resolve_pretrained(pretrained)
        if exploration_initial_eps is None:
            exploration_initial_eps = COLD_START_INITIAL_EPS if source is None else WARM_START_EPS
        if exploration_final_eps is None:
            exploration_final_eps = WARM_START_EPS if source is not None else DEFAULT_FINAL_EPS
        if gamma is None:
            gamma = DEFAULT_GAMMA if source is None else source.gamma
        base = default_policy_kwargs() if source is None else source.policy_kwargs()
        self._pretrained_source = source
        self.meta_init = None
        self.pretraining = None
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            max_grad_norm=max_grad_norm,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs={**base, **(policy_kwargs or {})},
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        return DQN._wrap_env(condition_env(env), verbose, monitor_wrapper)

    # ------------------------------------------------------------------ initialization
    def _setup_model(self) -> None:
        super()._setup_model()
        source, self._pretrained_source = self._pretrained_source, None
        if source is None:
            return
        source.check_compatible(self)
        self.q_net.load_state_dict(source.state_dict)
        self.q_net_target.load_state_dict(source.state_dict)
        document = source.document
        pretraining = document.get("pretraining") or {}
        task_ids = env_attr(self.env, "task_id")
        task_id = task_ids[0] if task_ids and len(set(task_ids)) == 1 else None
        self.meta_init = {
            "pretrained": source.label,
            "pretrained_env_id": document.get("env_id"),
            "pretrained_timesteps": int(document.get("num_timesteps") or 0),
            "pretraining_seed": pretraining.get("seed"),
            "pretraining_core_seconds": pretraining.get("core_seconds"),
            "task_id": None if task_id is None else int(task_id),
            "task_in_pretraining": _seen_in_pretraining(pretraining, task_id),
            "exploration_initial_eps": self.exploration_initial_eps,
            "exploration_final_eps": self.exploration_final_eps,
            "gamma": self.gamma,
        }
        if self.verbose >= 1:
            print(f"TaskConditionedDQN initialization: {self.meta_init}")

    def family_info(self) -> tuple[str | None, str | None]:
        """``(env_id, family_key)`` of the env's task family (from the pretraining record
        when the model has no env), ``(None, None)`` when unknown."""
        families = env_attr(self.env, "family")
        if families:
            keys = {getattr(f, "key", None) for f in families}
            if len(keys) == 1 and None not in keys:
                key = str(keys.pop())
                return getattr(families[0], "env_id", None), key
        record = self.pretraining or {}
        return record.get("env_id"), record.get("family_key")

    def policy_config(self) -> dict[str, Any]:
        """The architecture as JSON: what a pretrained model and its user must share."""
        extractor = self.q_net.features_extractor
        if isinstance(extractor, TaskEmbeddingExtractor):
            extractor_kwargs = extractor.config
        else:
            extractor_kwargs = _jsonable(self.policy_kwargs.get("features_extractor_kwargs", {}))
        return {
            "policy_class": _qualname(type(self.policy)),
            "net_arch": [int(n) for n in self.q_net.net_arch],
            "activation_fn": _qualname(self.q_net.activation_fn),
            "features_extractor_class": _qualname(type(extractor)),
            "features_extractor_kwargs": extractor_kwargs,
            "normalize_images": bool(self.policy.normalize_images),
        }

    def pretrained_document(self) -> dict[str, Any]:
        """The JSON document :meth:`save_pretrained` writes next to the weights."""
        env_id, family_key = self.family_info()
        assert isinstance(self.observation_space, spaces.Dict)
        descriptor_space = self.observation_space[DESCRIPTOR_KEY]
        return {
            "kind": ARTIFACT_KIND,
            "env_id": env_id,
            "family_key": family_key,
            "descriptor_dim": int(spaces.flatdim(descriptor_space)),
            "observation_space": describe_observation_space(self.observation_space),
            "action_space": describe_space(self.action_space),
            "policy": self.policy_config(),
            "num_timesteps": int(self.num_timesteps),
            "gamma": float(self.gamma),
            "pretraining": self.pretraining,
            "versions": {
                "sb3_metadqn": _package_version(),
                "stable_baselines3": stable_baselines3.__version__,
                "torch": torch.__version__,
            },
        }

    # ------------------------------------------------------------------ learning
    def learn(
        self: SelfTaskConditionedDQN,
        total_timesteps: int = DEFAULT_TOTAL_TIMESTEPS,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "TaskConditionedDQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfTaskConditionedDQN:
        """DQN's ``learn`` with a default ``total_timesteps`` of 20,000."""
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._setup_learn(*args, **kwargs)
        for key, value in (self.meta_init or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.logger.record(f"meta_init/{key}", value)
        return result

    # ------------------------------------------------------------------ persistence
    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), *self._extra_excluded]

    def save_pretrained(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the Q-network as one safetensors artifact (kind ``"task-conditioned-dqn"``):
        tensors ``q_net.*``, and a JSON document with the family, the spaces, the policy
        configuration and the pretraining record. Written atomically; read without pickle.
        """
        tensors = {f"q_net.{k}": v for k, v in self.q_net.state_dict().items()}
        return artifacts.write(path, tensors, self.pretrained_document())


# ---------------------------------------------------------------------- pretrained sources
class _Pretrained:
    """Weights and document of a pretrained model, from an artifact or a live model."""

    def __init__(
        self, state_dict: dict[str, torch.Tensor], document: dict[str, Any], label: str
    ) -> None:
        self.state_dict = state_dict
        self.document = document
        self.label = label

    @property
    def gamma(self) -> float:
        """The discount the pretrained Q-values were trained for."""
        return float(self.document["gamma"])

    def policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` that rebuild the pretrained architecture."""
        config = self.document["policy"]
        source = self.label
        if config.get("features_extractor_class") != _qualname(TaskEmbeddingExtractor):
            raise ArtifactError(
                f"{source} uses the features extractor {config.get('features_extractor_class')}; "
                "pass policy_kwargs that build it"
            )
        activation_name = str(config.get("activation_fn", ""))
        module, _, name = activation_name.rpartition(".")
        activation = getattr(nn, name, None) if module.startswith("torch.nn") else None
        if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
            raise ArtifactError(
                f"{source} uses the activation {activation_name!r}; pass policy_kwargs that "
                "build it"
            )
        return {
            "net_arch": [int(n) for n in config["net_arch"]],
            "activation_fn": activation,
            "features_extractor_class": TaskEmbeddingExtractor,
            "features_extractor_kwargs": dict(config["features_extractor_kwargs"]),
            "normalize_images": bool(config["normalize_images"]),
        }

    def check_compatible(self, model: TaskConditionedDQN) -> None:
        """Raise :class:`ArtifactError` unless ``model`` can take these weights."""
        document, source = self.document, self.label
        env_id, family_key = model.family_info()
        if family_key is not None and document["family_key"] not in (None, family_key):
            raise ArtifactError(
                f"{source} was pretrained on {document['env_id']} (family "
                f"{document['family_key']}), but the env is {env_id} (family {family_key}); "
                "a pretrained model only serves tasks of its own family"
            )
        for name, saved, current in (
            (
                "observation space",
                document["observation_space"],
                describe_observation_space(model.observation_space),
            ),
            ("action space", document["action_space"], describe_space(model.action_space)),
        ):
            if saved != current:
                raise ArtifactError(
                    f"{source} was pretrained with {name} {saved}; the env has {current}"
                )
        config = model.policy_config()
        differing = sorted(k for k in config if document["policy"].get(k) != config[k])
        if differing:
            detail = ", ".join(
                f"{k}: pretrained {document['policy'].get(k)!r}, model {config[k]!r}"
                for k in differing
            )
            raise ArtifactError(
                f"{source} has another policy configuration ({detail}); pass policy_kwargs "
                "that match it, or none to adopt it"
            )
        expected = {k: tuple(v.shape) for k, v in model.q_net.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in self.state_dict.items()}
        if expected != found:
            raise ArtifactError(
                f"{source} holds Q-network tensors {found}, the model expects {expected}"
            )


def _resolve_pretrained(pretrained: Any) -> _Pretrained:
    if isinstance(pretrained, TaskConditionedDQN):
        state = {k: v.detach().cpu().clone() for k, v in pretrained.q_net.state_dict().items()}
        document = pretrained.pretrained_document()
        env_id = document["env_id"]
        return _Pretrained(state, document, f"the TaskConditionedDQN of {env_id}")
    if isinstance(pretrained, (str, os.PathLike)):
        return read_pretrained(pretrained)
    raise TypeError(
        "pretrained must be None, a path to a save_pretrained artifact or a "
        f"TaskConditionedDQN, got {type(pretrained).__name__}"
    )


def read_pretrained(path: str | os.PathLike[str]) -> _Pretrained:
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
    if document.get("kind") != ARTIFACT_KIND:
        raise ArtifactError(
            f"{source} is a {document.get('kind')!r} artifact, not a {ARTIFACT_KIND!r} one "
            "(write it with TaskConditionedDQN.save_pretrained)"
        )
    artifacts.require(document, _DOCUMENT_KEYS, source)
    policy = document["policy"]
    if not isinstance(policy, dict):
        raise ArtifactError(f"{source}: 'policy' must be a dict, got {policy!r}")
    artifacts.require(policy, _POLICY_KEYS, f"{source} 'policy'")
    net_arch = policy["net_arch"]
    if not isinstance(net_arch, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in net_arch
    ):
        raise ArtifactError(
            f"{source}: 'policy.net_arch' must be a list of sizes, got {net_arch!r}"
        )
    if not isinstance(policy["features_extractor_kwargs"], dict):
        raise ArtifactError(f"{source}: 'policy.features_extractor_kwargs' must be a dict")
    gamma = document["gamma"]
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
        raise ArtifactError(f"{source}: 'gamma' must be a number in [0, 1], got {gamma!r}")
    foreign = sorted(k for k in tensors if not k.startswith("q_net."))
    if foreign or not tensors:
        raise ArtifactError(f"{source} must hold only q_net.* tensors, found {foreign or 'none'}")
    state = {k[len("q_net.") :]: v for k, v in tensors.items()}
    return _Pretrained(state, document, source)


def describe_observation_space(space: spaces.Space[Any]) -> dict[str, Any]:
    """:func:`~sb3_metadqn.meta_learner.describe_space` extended to (flat) ``Dict`` spaces."""
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: describe_space(s) for k, s in space.spaces.items()}}
    return describe_space(space)


def _seen_in_pretraining(pretraining: dict[str, Any], task_id: int | None) -> bool | None:
    """Whether the pretraining drew from ``task_id`` (None when unknown)."""
    if task_id is None or not pretraining.get("env_id"):
        return None
    ids = pretraining.get("task_ids")
    if ids is not None:
        return int(task_id) in set(ids)
    split = pretraining.get("split")
    try:
        family = gym_metatasks.family(pretraining["env_id"])
    except ValueError:
        return None
    if split == "all":
        return family.split_of(task_id) is not None
    return family.split_of(task_id) == split


# ---------------------------------------------------------------------- pretraining
#: What :func:`pretrain` passes to :class:`TaskConditionedDQN` unless ``dqn_kwargs`` says
#: otherwise (measured on MetaNav-v0, see :func:`pretrain`).
PRETRAIN_DQN_KWARGS: dict[str, Any] = {
    "gamma": 0.95,
    "exploration_fraction": 0.5,
    "exploration_final_eps": 0.1,
}
#: DQN arguments :func:`pretrain` does not take through ``dqn_kwargs``.
_RESERVED = ("policy", "env", "seed", "policy_kwargs", "verbose", "_init_setup_model", "pretrained")
_CONFIG_ATTRIBUTES = (
    "learning_rate",
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "train_freq",
    "gradient_steps",
    "target_update_interval",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_grad_norm",
    "n_steps",
)


def pretrain(
    env_id: str,
    total_timesteps: int = DEFAULT_PRETRAIN_TIMESTEPS,
    *,
    seed: int = 0,
    split: str = "train",
    task_ids: Sequence[int] | None = None,
    n_envs: int = 1,
    dqn_kwargs: dict[str, Any] | None = None,
    policy_kwargs: dict[str, Any] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_freq: int = 50_000,
    progress_bar: bool = False,
    verbose: int = 0,
) -> TaskConditionedDQN:
    """Multi-task DQN: one :class:`TaskConditionedDQN` on tasks of ``env_id`` drawn anew at
    every reset (``ResampleTask(family.make(...), split, seed=seed + i)`` per sub-env).

    Unless ``dqn_kwargs`` sets them, ``gamma=0.95``, ``exploration_fraction=0.5`` and
    ``exploration_final_eps=0.1`` (:data:`PRETRAIN_DQN_KWARGS`), on top of the
    :class:`TaskConditionedDQN` defaults. These and the 200,000-step default were first
    measured on MetaNav-v0 test tasks, before the validation split existed; the benchmarks
    README ("Settings and where they were chosen") gives their re-check on validation tasks.

    :param env_id: a registered gym_metatasks family id
    :param total_timesteps: env steps (default 200,000)
    :param seed: seed of the model, the envs and the task samplers
    :param split: the split tasks are drawn from (``"train"``; held-out evaluation needs it)
    :param task_ids: draw from these train-split task ids instead of the whole split
    :param n_envs: sub-envs stepped together (a ``DummyVecEnv``)
    :param dqn_kwargs: :class:`TaskConditionedDQN` arguments (learning rate, buffer, ...)
    :param policy_kwargs: merged over the default ``policy_kwargs``
    :param checkpoint_dir: write a checkpoint (weights, optimizer, counters, replay buffer,
        task samplers; safetensors + JSON, atomic) every ``checkpoint_freq`` steps and at the
        end; a rerun with the same arguments resumes from it (not bit-identical: the envs
        start new episodes)
    :param checkpoint_freq: env steps between checkpoints
    :param progress_bar: show SB3's progress bar
    :param verbose: SB3 verbosity
    :return: the trained model; ``model.pretraining`` records env id, family key, timesteps,
        seed, tasks, configuration and cost (``core_seconds``: process CPU time)
    :raises ValueError: for test-split task ids, unknown ``dqn_kwargs``, or a
        ``checkpoint_dir`` that holds another configuration
    """
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    family = gym_metatasks.family(env_id)
    _check_positive_int(total_timesteps, "total_timesteps")
    _check_positive_int(n_envs, "n_envs")
    _check_positive_int(checkpoint_freq, "checkpoint_freq")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    ids: list[int] | None = None
    if task_ids is not None:
        if split != "train":
            raise ValueError(f"pass either task_ids or split (got split={split!r} and task_ids)")
        ids = [int(t) for t in task_ids]
        outside = [
            t
            for t in ids
            if not 0 <= t < family.num_tasks or family.split_of(t) not in ("train", "validation")
        ]
        if outside:
            raise ValueError(
                f"task_ids {outside} are not in the train split of {env_id} (or the validation "
                "split, named explicitly); test-split or duplicate tasks would leak into "
                "pretraining; use family.train_task_ids"
            )
        if not ids:
            raise ValueError("task_ids is empty")
    elif split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    kwargs = {**PRETRAIN_DQN_KWARGS, **(dqn_kwargs or {})}
    accepted = set(inspect.signature(TaskConditionedDQN.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - (accepted - set(_RESERVED)))
    if unknown:
        raise ValueError(
            f"dqn_kwargs has unknown or reserved key(s) {unknown}; seed, verbose and "
            "policy_kwargs are pretrain() arguments"
        )
    config = {
        "env_id": env_id,
        "family_key": family.key,
        "total_timesteps": int(total_timesteps),
        "seed": int(seed),
        "split": "custom" if ids is not None else split,
        "task_ids": ids,
        "n_envs": int(n_envs),
        "dqn_kwargs": _jsonable(kwargs),
        "policy_kwargs": _jsonable(policy_kwargs or {}),
    }
    checkpoint = None if checkpoint_dir is None else _Checkpoint(pathlib.Path(checkpoint_dir))
    if checkpoint is not None:
        checkpoint.claim(config)

    first_task = ids[0] if ids is not None else family.split_task_ids(cast(Split, split))[0]

    def make(index: int) -> Any:
        env = ResampleTask(family.make(first_task), split=split, task_ids=ids, seed=seed + index)
        return Monitor(ObserveDescriptor(env, mode="dict"))

    venv = DummyVecEnv([functools.partial(make, i) for i in range(n_envs)])
    model = TaskConditionedDQN(
        "MultiInputPolicy",
        venv,
        seed=seed,
        verbose=verbose,
        policy_kwargs=policy_kwargs,
        **kwargs,
    )
    prior_cpu, prior_wall, resumed_at = 0.0, 0.0, list[int]()
    state = None if checkpoint is None else checkpoint.load()
    if state is not None:
        assert checkpoint is not None
        prior_cpu, prior_wall, resumed_at = checkpoint.restore(model, *state)
        if model.num_timesteps < total_timesteps:
            resumed_at = [*resumed_at, int(model.num_timesteps)]

    def record() -> dict[str, Any]:
        wall = prior_wall + time.perf_counter() - start_wall
        return {
            **{k: config[k] for k in ("env_id", "family_key", "seed", "split", "task_ids")},
            "timesteps": int(model.num_timesteps),
            "n_envs": int(n_envs),
            "config": {
                **{k: _jsonable(getattr(model, k)) for k in _CONFIG_ATTRIBUTES},
                "policy": model.policy_config(),
            },
            "core_seconds": prior_cpu + time.process_time() - start_cpu,
            "wall_seconds": wall,
            "resumed_at": resumed_at,
        }

    callback = None
    if checkpoint is not None:
        saver = checkpoint
        callback = _CheckpointCallback(lambda: saver.save(model, record()), checkpoint_freq)
    remaining = int(total_timesteps) - int(model.num_timesteps)
    if remaining > 0:
        model.learn(
            remaining,
            callback=callback,
            reset_num_timesteps=state is None,
            progress_bar=progress_bar,
        )
    model.pretraining = record()
    if checkpoint is not None and remaining > 0:
        checkpoint.save(model, model.pretraining)
    return model


class _CheckpointCallback(BaseCallback):
    """Calls ``save`` at the start of a rollout (after the previous update) every ``freq``
    env steps."""

    def __init__(self, save: Any, freq: int) -> None:
        super().__init__()
        self._save, self._freq = save, freq
        self._last = -1

    def _on_training_start(self) -> None:
        self._last = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self._last >= self._freq:
            self._save()
            self._last = self.model.num_timesteps

    def _on_step(self) -> bool:
        return True


class _Checkpoint:
    """A pretraining run's directory: ``config.json`` and ``state.safetensors``."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.state_path = directory / "state.safetensors"

    def claim(self, config: dict[str, Any]) -> None:
        artifacts.ensure_writable_directory(self.directory, "checkpoint_dir")
        config_path = self.directory / "config.json"
        text = json.dumps(config, sort_keys=True, indent=1)
        if config_path.exists():
            saved = json.loads(config_path.read_text())
            if saved != json.loads(text):
                differing = sorted(k for k in {*saved, *config} if saved.get(k) != config.get(k))
                raise ValueError(
                    f"checkpoint_dir={str(self.directory)!r} holds a pretraining run with another "
                    f"configuration (differs in {differing}); use a new directory"
                )
        else:
            write_atomic(config_path, text)

    def save(self, model: TaskConditionedDQN, record: dict[str, Any]) -> None:
        tensors = {f"policy.{k}": v for k, v in model.policy.state_dict().items()}
        optimizer = model.policy.optimizer.state_dict()
        for index, param_state in optimizer["state"].items():
            for key, value in param_state.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value)
        buffer = model.replay_buffer
        if not isinstance(buffer, DictReplayBuffer):
            raise ValueError(
                f"checkpointing supports SB3's DictReplayBuffer, not {type(buffer).__name__}"
            )
        filled = buffer.buffer_size if buffer.full else buffer.pos
        for name, arrays in (
            ("observations", buffer.observations),
            ("next_observations", buffer.next_observations),
        ):
            for key, array in arrays.items():
                tensors[f"replay.{name}.{key}"] = torch.from_numpy(array[:filled])
        for name in ("actions", "rewards", "dones", "timeouts"):
            tensors[f"replay.{name}"] = torch.from_numpy(getattr(buffer, name)[:filled])
        assert model.env is not None
        document = {
            "kind": CHECKPOINT_KIND,
            "num_timesteps": int(model.num_timesteps),
            "n_calls": int(model._n_calls),
            "n_updates": int(model._n_updates),
            "episode_num": int(model._episode_num),
            "param_groups": optimizer["param_groups"],
            "replay": {"pos": int(buffer.pos), "full": bool(buffer.full), "filled": filled},
            "samplers": list(model.env.env_method("get_checkpoint")),
            "record": record,
        }
        artifacts.write(self.state_path, tensors, document)

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        if not self.state_path.exists():
            return None
        tensors, document = artifacts.read(self.state_path)
        if document.get("kind") != CHECKPOINT_KIND:
            raise ArtifactError(f"{self.state_path} is not a pretraining checkpoint")
        return tensors, document

    def restore(
        self, model: TaskConditionedDQN, tensors: dict[str, torch.Tensor], document: dict[str, Any]
    ) -> tuple[float, float, list[int]]:
        """Put the checkpoint into ``model`` and its env; return the prior cost and resumes."""
        model.policy.load_state_dict(
            {k[len("policy.") :]: v for k, v in tensors.items() if k.startswith("policy.")}
        )
        state: dict[int, dict[str, torch.Tensor]] = {}
        for name, value in tensors.items():
            if name.startswith("optimizer."):
                _, index, key = name.split(".", 2)
                state.setdefault(int(index), {})[key] = value
        model.policy.optimizer.load_state_dict(
            {"state": state, "param_groups": document["param_groups"]}
        )
        buffer = model.replay_buffer
        assert isinstance(buffer, DictReplayBuffer)
        filled = int(document["replay"]["filled"])
        for name, arrays in (
            ("observations", buffer.observations),
            ("next_observations", buffer.next_observations),
        ):
            for key, array in arrays.items():
                array[:filled] = tensors[f"replay.{name}.{key}"].numpy()
        for name in ("actions", "rewards", "dones", "timeouts"):
            getattr(buffer, name)[:filled] = tensors[f"replay.{name}"].numpy()
        buffer.pos = int(document["replay"]["pos"])
        buffer.full = bool(document["replay"]["full"])
        model.num_timesteps = int(document["num_timesteps"])
        model._n_calls = int(document["n_calls"])
        model._n_updates = int(document["n_updates"])
        model._episode_num = int(document["episode_num"])
        env = model.env
        assert env is not None
        env.reset()  # takes the seeds SB3 set, so the samplers restored next are kept
        for env_index, sampler in enumerate(document["samplers"]):
            env.env_method("load_checkpoint", sampler, indices=[env_index])
        model._last_obs = env.reset()  # type: ignore[assignment]
        model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)
        record = document["record"]
        return (
            float(record["core_seconds"]),
            float(record["wall_seconds"]),
            [int(s) for s in record["resumed_at"]],
        )


# ---------------------------------------------------------------------- helpers
def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _jsonable(value: Any) -> Any:
    """A JSON-ready rendering of configuration values (classes and functions by name)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, type) or callable(value):
        return _qualname(value) if hasattr(value, "__qualname__") else repr(value)
    return repr(value)


def _package_version() -> str:
    import sb3_metadqn

    return str(getattr(sb3_metadqn, "__version__", "unknown"))
