"""TaskConditionedDQN, the "Q-learning in meta-learning" baseline: one Q-network reads the
state next to a learned embedding of the task descriptor, is trained on many train-split
tasks at once (:func:`~sb3_metadqn.baselines.task_conditioned_pretraining.pretrain`), and is
adapted to a new task by continued training (``TaskConditionedDQN(..., pretrained=...)``).

>>> import gym_metatasks
>>> from sb3_metadqn import TaskConditionedDQN
>>> # pretraining takes minutes, so the lines that need it are not run as tests
>>> from sb3_metadqn.baselines.task_conditioned_pretraining import pretrain
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
import inspect
import os
import pathlib
from typing import Any, ClassVar

import numpy as np
import stable_baselines3
import torch
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.dqn.policies import DQNPolicy

import gym_metatasks
from gym_metatasks.wrappers import ObserveDescriptor
from gym_metatasks.wrappers.observe_descriptor import DESCRIPTOR_KEY
from sb3_metadqn._version import __version__
from sb3_metadqn.agents.pretrained_qnet import ARTIFACT_KIND, PretrainedQNet, read_pretrained
from sb3_metadqn.agents.task_env import env_attr
from sb3_metadqn.agents.warm_start import WarmStartDQN
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.io.spaces import describe_space, same_space
from sb3_metadqn.nets.task_embedding import TaskEmbeddingExtractor, recorded_name

__all__ = ["TaskConditionedDQN", "TaskEmbeddingExtractor", "condition_env", "read_pretrained"]

DEFAULT_NET_ARCH = (256, 256)
#: TaskConditionedDQN's defaults where they differ from DQN's (see the class docstring).
DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-4,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "batch_size": 64,
    "target_update_interval": 500,
}
WARM_START_EPS = 0.05
#: DQN's exploration defaults, used when no ``pretrained`` model is given.
COLD_START_INITIAL_EPS = 1.0
DEFAULT_FINAL_EPS = 0.05
#: DQN's discount, used when no ``pretrained`` model is given.
DEFAULT_GAMMA = 0.99
#: WarmStartDQN arguments that choose an initializer; the pretrained model replaces them.
NOT_TASK_CONDITIONED = (
    "initializer",
    "task_descriptor",
    "meta_candidates",
    "meta_probe_steps",
    "meta_probe_episodes",
)
_SIGNATURE = inspect.signature(WarmStartDQN.__init__)


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
class TaskConditionedDQN(WarmStartDQN):
    """Deep Q-Network conditioned on the task: ``Q(s, a; e(d))`` with a learned embedding
    ``e`` of the task descriptor ``d`` (the "Q-learning in meta-learning" baseline of the
    project's DESIGN.md: a task embedding joins the state and one network serves many tasks).

    A :class:`~sb3_metadqn.WarmStartDQN` whose warm start is a pretrained multi-task model
    instead of an initializer: every argument of :class:`stable_baselines3.DQN` works, and
    ``anchor_rate``; use ``"MultiInputPolicy"``.
    A gym_metatasks env (or env id) is wrapped with
    ``gym_metatasks.ObserveDescriptor(env, mode="dict")``; an env or VecEnv whose ``Dict``
    observation already holds ``"task_descriptor"`` is used as is. Train on many tasks with
    :func:`~sb3_metadqn.baselines.task_conditioned_pretraining.pretrain`, write the result with :meth:`save_pretrained`, and adapt to a new task
    with ``TaskConditionedDQN(policy, env, pretrained=path)`` followed by ``learn``.

    Defaults differ from DQN's where a measurement said so (the measurements and where each
    was chosen: the benchmarks README, "Settings and where they were chosen"):

    - ``learning_rate=5e-4``, ``target_update_interval=500``, ``batch_size=64``,
      ``learning_starts=1_000``;
    - ``buffer_size=100_000``: DQN's 1e6 Dict observations would take ~1 GB on MetaNav;
    - ``policy_kwargs``: :class:`TaskEmbeddingExtractor` (a linear 32-dim embedding) and
      ``net_arch=[256, 256]``; the ``policy_kwargs`` given are merged over these, or over the
      pretrained model's configuration when ``pretrained`` is given.
    - ``gamma``: DQN's 0.99; with ``pretrained``, the discount its Q-values were trained
      for (reward pretraining uses 0.95).
    - exploration: DQN's (epsilon 1 -> 0.05 over 10% of training) without ``pretrained``.
      With it, unset arguments default to the warm start ``exploration_initial_eps =
      exploration_final_eps = 0.05``: an agent that restarts at epsilon 1 throws its head
      start away.

    The other parameters are :class:`stable_baselines3.DQN`'s (positional ones in its order).
    After a pretrained start,
    ``model.meta_init`` is a dict: the pretrained source, its env id, pretraining steps,
    seed and cost, the env's task id, whether pretraining drew that task, and the
    exploration and discount in use. Its numeric entries are logged under ``meta_init/`` when
    ``learn`` starts. Otherwise ``meta_init`` is None. After pretraining,
    ``model.pretraining`` records the run.

    :param pretrained: a multi-task model to start from: a :meth:`save_pretrained` artifact
        (path) or a :class:`TaskConditionedDQN`. Its weights go into ``q_net`` and
        ``q_net_target``. Its family, spaces and policy configuration must match; without
        ``policy_kwargs`` the pretrained configuration is used. Not saved by :meth:`save`.
    """

    meta_init: dict[str, Any] | None
    pretraining: dict[str, Any] | None
    _meta_fields: ClassVar[tuple[str, ...]] = (*WarmStartDQN._meta_fields, "_pretrained_source")
    #: WarmStartDQN arguments this class refuses (model files leave them out)
    _refused_arguments: ClassVar[tuple[str, ...]] = NOT_TASK_CONDITIONED

    def __init__(
        self,
        policy: str | type[DQNPolicy],
        env: GymEnv | str,
        *args: Any,
        pretrained: str | os.PathLike[str] | TaskConditionedDQN | None = None,
        **kwargs: Any,
    ) -> None:
        refused = sorted(set(kwargs) & set(NOT_TASK_CONDITIONED))
        if refused:
            raise TypeError(
                f"TaskConditionedDQN does not take {refused}: it starts from pretrained=, not "
                "from an initializer"
            )
        settings = dict(_SIGNATURE.bind_partial(self, policy, env, *args, **kwargs).arguments)
        for name in ("self", "policy", "env"):
            settings.pop(name)
        source = None if pretrained is None else _resolve_pretrained(pretrained)
        settings = {**DEFAULTS, **settings}
        if settings.get("exploration_initial_eps") is None:
            settings["exploration_initial_eps"] = (
                COLD_START_INITIAL_EPS if source is None else WARM_START_EPS
            )
        if settings.get("exploration_final_eps") is None:
            settings["exploration_final_eps"] = (
                WARM_START_EPS if source is not None else DEFAULT_FINAL_EPS
            )
        if settings.get("gamma") is None:
            settings["gamma"] = DEFAULT_GAMMA if source is None else source.gamma
        base = default_policy_kwargs() if source is None else source.policy_kwargs()
        settings["policy_kwargs"] = {**base, **(settings.get("policy_kwargs") or {})}
        self._pretrained_source = source
        self.pretraining = None
        super().__init__(policy, env, **settings)

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        return DQN._wrap_env(condition_env(env), verbose, monitor_wrapper)

    # ------------------------------------------------------------------ initialization
    def _warm_start(self) -> None:
        """Load the pretrained weights into ``q_net`` and ``q_net_target`` (nothing without
        ``pretrained``)."""
        source, self._pretrained_source = self._pretrained_source, None
        if source is None:
            return
        self._check_pretrained(source)
        self.q_net.load_state_dict(source.state_dict)
        self.q_net_target.load_state_dict(source.state_dict)
        self._anchor = [p.detach().clone() for p in self.q_net.parameters()]
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

    def _check_pretrained(self, pretrained: PretrainedQNet) -> None:
        """Raise :class:`ArtifactError` unless this model can take the pretrained weights."""
        document, source = pretrained.document, pretrained.label
        env_id, family_key = self.family_info()
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
                describe_space(self.observation_space),
            ),
            ("action space", document["action_space"], describe_space(self.action_space)),
        ):
            if not same_space(saved, current):
                raise ArtifactError(
                    f"{source} was pretrained with {name} {saved}; the env has {current}"
                )
        config = self.policy_config()
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
        expected = {k: tuple(v.shape) for k, v in self.q_net.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in pretrained.state_dict.items()}
        if expected != found:
            raise ArtifactError(
                f"{source} holds Q-network tensors {found}, the model expects {expected}"
            )

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
            extractor_kwargs = jsonable(self.policy_kwargs.get("features_extractor_kwargs", {}))
        return {
            "policy_class": recorded_name(type(self.policy)),
            "net_arch": [int(n) for n in self.q_net.net_arch],
            "activation_fn": recorded_name(self.q_net.activation_fn),
            "features_extractor_class": recorded_name(type(extractor)),
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
            "observation_space": describe_space(self.observation_space),
            "action_space": describe_space(self.action_space),
            "policy": self.policy_config(),
            "num_timesteps": int(self.num_timesteps),
            "gamma": float(self.gamma),
            "pretraining": self.pretraining,
            "versions": {
                "sb3_metadqn": __version__,
                "stable_baselines3": stable_baselines3.__version__,
                "torch": torch.__version__,
            },
        }

    def predict(
        self,
        observation: Any,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """DQN's ``predict`` on observations that carry the task descriptor: a dict with
        this model's observation keys (what ``ObserveDescriptor(env, mode="dict")`` gives).

        :raises ValueError: for an observation without the descriptor, naming the keys
        """
        if not isinstance(observation, dict) or DESCRIPTOR_KEY not in observation:
            keys = list(getattr(self.observation_space, "spaces", {}))
            raise ValueError(
                f"observation must be a dict with keys {keys} (the env's observation with the "
                f"task descriptor, as ObserveDescriptor(env, mode='dict') gives it), got "
                f"{type(observation).__name__}"
            )
        return super().predict(observation, state, episode_start, deterministic)

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the Q-network as one safetensors artifact (kind ``"task-conditioned-dqn"``):
        tensors ``q_net.*``, and a JSON document with the family, the spaces, the policy
        configuration and the pretraining record. Written atomically; read without pickle.
        """
        tensors = {f"q_net.{k}": v for k, v in self.q_net.state_dict().items()}
        return artifacts.write(path, tensors, self.pretrained_document())


# ---------------------------------------------------------------------- helpers
def _resolve_pretrained(pretrained: Any) -> PretrainedQNet:
    if isinstance(pretrained, TaskConditionedDQN):
        state = {k: v.detach().cpu().clone() for k, v in pretrained.q_net.state_dict().items()}
        document = pretrained.pretrained_document()
        env_id = document["env_id"]
        return PretrainedQNet(state, document, f"the TaskConditionedDQN of {env_id}")
    if isinstance(pretrained, (str, os.PathLike)):
        return read_pretrained(pretrained)
    raise TypeError(
        "pretrained must be None, a path to a save_pretrained artifact or a "
        f"TaskConditionedDQN, got {type(pretrained).__name__}"
    )


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


def jsonable(value: Any) -> Any:
    """A JSON-ready rendering of configuration values (classes and functions by name)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, type) or callable(value):
        return recorded_name(value) if hasattr(value, "__qualname__") else repr(value)
    return repr(value)
