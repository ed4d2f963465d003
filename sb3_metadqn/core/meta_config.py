"""The configuration of a meta-training run (:class:`MetaTrainConfig`), validated against its
family with the ``auto`` choices filled in (:func:`resolve_config`)."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

import gym_metatasks
from sb3_metadqn._checks import check_config
from sb3_metadqn.core.initializer import check_train_tasks
from sb3_metadqn.core.mapper_guard import GUARD_EPISODES
from sb3_metadqn.core.mapper_training import MapperTrainingConfig
from sb3_metadqn.nets.mapping import MapperConfig

#: The source trainer of a run: regression on the exact Q*, SB3 DQN, or "auto" (the oracle
#: where the family has one); the stored ``source_method`` field.
SourceTrainer = Literal["auto", "oracle", "dqn"]
#: Whether later rounds' sources start from the mapping network's output (the stored
#: ``warm_start`` field).
SourceStart = Literal["auto", "yes", "no"]
#: The test that keeps or resets the fitted mapping network (the stored ``guard`` field; see
#: :mod:`sb3_metadqn.core.mapper_guard`).
MapperGuard = Literal["auto", "agreement", "validation"]

#: DQN settings for sources of families without an exact oracle (SB3 zoo's CartPole-style
#: settings; 64x64 network so that MetaDQN's default MlpPolicy can use the result).
SOURCE_DQN_KWARGS: dict[str, Any] = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1000,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
}
#: Families whose DQN sources train with other settings: SB3 zoo's for the family, with a
#: 64x64 network and (Acrobot) one gradient step per two env steps instead of one per step.
FAMILY_SOURCE_DQN_KWARGS: dict[str, dict[str, Any]] = {
    "MetaAcrobot-v0": {
        "learning_rate": 6.3e-4,
        "batch_size": 128,
        "buffer_size": 50_000,
        "learning_starts": 1000,
        "target_update_interval": 250,
        "train_freq": 16,
        "gradient_steps": 8,
        "exploration_fraction": 0.12,
        "exploration_final_eps": 0.1,
    },
    "MetaMountainCar-v0": {
        "learning_rate": 4e-3,
        "batch_size": 128,
        "buffer_size": 10_000,
        "learning_starts": 1000,
        "target_update_interval": 600,
        "train_freq": 16,
        "gradient_steps": 8,
        "exploration_fraction": 0.2,
        "exploration_final_eps": 0.07,
    },
}
#: DQN steps per source where the family does not set its own (``source_timesteps=None``).
SOURCE_DQN_TIMESTEPS = 50_000
FAMILY_SOURCE_DQN_TIMESTEPS: dict[str, int] = {
    "MetaAcrobot-v0": 40_000,
    "MetaMountainCar-v0": 60_000,
}


@dataclass(frozen=True)
class MetaTrainConfig:
    """Everything that determines a meta-training run's result (recorded in the artifact).

    :param env_id: registered family id
    :param num_sources: train-split tasks that get a trained source (None: every one; the
        validation split is left out unless ``task_ids`` names its tasks)
    :param rounds: alternations of source training and fitting the mapping network
    :param source_method: ``"oracle"`` (exact-oracle families only), ``"dqn"``, or
        ``"auto"`` (oracle where there is one)
    :param source_timesteps: DQN steps per source, or regression steps for ``"oracle"``
        (None: 600 regression steps; DQN steps from :data:`FAMILY_SOURCE_DQN_TIMESTEPS`,
        else :data:`SOURCE_DQN_TIMESTEPS`)
    :param chunk_size: sources per job (the unit of parallelism and checkpointing)
    :param net_arch: hidden layers of the Q-network (SB3 ``MlpPolicy`` default: 64, 64)
    :param gamma: discount
    :param mapper_steps: total optimizer steps of the mapping network (split evenly over rounds)
    :param keep_sources: sources kept in the artifact (spread over descriptor space by a
        greedy farthest-point order); None keeps all
    :param seed: seed of task sampling, shared initialization, sources and mapping network
    :param mapper: the mapping network's hyperparameters (:class:`~sb3_metadqn.MapperConfig`)
    :param mapper_training: the mapping network's fit
        (:class:`~sb3_metadqn.MapperTrainingConfig`)
    :param dqn_kwargs: ``DQN`` arguments of DQN-trained sources (empty: the family's
        :data:`FAMILY_SOURCE_DQN_KWARGS`, else :data:`SOURCE_DQN_KWARGS`)
    :param task_ids: train-split tasks that get a source, instead of ``num_sources`` drawn
        with ``seed``
    :param planner: give the mapping network the value-iteration planner over the grid
        descriptor (:mod:`sb3_metadqn.nets.planner`): ``True`` (grid families with one-hot
        cell observations only), ``False``, or ``None``: on where the family allows it and
        the sources come from the oracle
    :param warm_start: start later rounds' sources from the mapping network's output (``"yes"``),
        from the shared initialization (``"no"``), or ``"auto"``: yes for DQN sources (it
        saves DQN steps), no for oracle regression (which reaches Q* from any start, and
        whose bank then stays one step from the shared origin)
    :param min_source_return: sources whose best normalized greedy return on their own task
        (as measured when their checkpoint was selected) is below this take no part: no
        mapping-network pair, no start of a later source, no place in the artifact (DQN
        sources; oracle sources are exact; when fewer than two pass, all take part)
    :param guard: how the fitted mapping network must beat the identity to be kept:
        ``"agreement"`` (greedy-action agreement on the bank's fit states), ``"validation"``
        (greedy return on the validation split: exact where the family has a model, else
        over ``guard_episodes`` sampled episodes) or ``"auto"``: agreement for oracle sources,
        validation for DQN sources
    :param guard_probe: ``(k, e)``: the ``"validation"`` guard compares the starts MetaDQN
        gives with this return probe (each of the k nearest kept sources, mapped or as it
        is, plays e greedy episodes and the best is evaluated) instead of the nearest
        source alone; None: no probe
    :param guard_episodes: sampled episodes per validation task of the ``"validation"``
        guard on families without an exact model (5: differences of a few hundredths
        between fitted and identity are within its noise; more cost more env steps)
    :param source_q_limit: DQN sources whose Q-values diverged take no part (as sources below
        ``min_source_return``): those whose largest ``|max_a Q(s, a)|`` on their own fit
        states exceeds ``source_q_limit`` times the largest discounted return their rewards
        allow, ``max |r| / (1 - gamma)``
        (:func:`~sb3_metadqn.core.source_chunks.source_q_ratio`); None: no such test
    """

    env_id: str
    num_sources: int | None = None
    rounds: int = 4
    source_method: SourceTrainer = "auto"
    source_timesteps: int | None = None
    chunk_size: int = 50
    net_arch: tuple[int, ...] = (64, 64)
    gamma: float = 0.99
    mapper_steps: int = 6000
    keep_sources: int | None = 64
    seed: int = 0
    mapper: MapperConfig = field(default_factory=MapperConfig)
    mapper_training: MapperTrainingConfig = field(default_factory=MapperTrainingConfig)
    dqn_kwargs: dict[str, Any] = field(default_factory=dict)
    task_ids: tuple[int, ...] | None = None
    warm_start: SourceStart = "auto"
    planner: bool | None = None
    guard: MapperGuard = "auto"
    min_source_return: float = 0.5
    guard_probe: tuple[int, ...] | None = None
    guard_episodes: int = GUARD_EPISODES
    source_q_limit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; ``guard_probe``, ``guard_episodes`` and ``source_q_limit`` only
        when not at their defaults, so that the record of a run without them is what it was
        before the options existed."""
        data = asdict(self)
        data["net_arch"] = list(self.net_arch)
        data["task_ids"] = None if self.task_ids is None else list(self.task_ids)
        if self.guard_probe is None:
            del data["guard_probe"]
        else:
            data["guard_probe"] = list(self.guard_probe)
        if self.guard_episodes == GUARD_EPISODES:
            del data["guard_episodes"]
        if self.source_q_limit is None:
            del data["source_q_limit"]
        return data


def resolve_config(config: MetaTrainConfig) -> tuple[MetaTrainConfig, Any]:
    """Validate a configuration against its family and fill in the ``auto`` choices."""
    try:
        family = gym_metatasks.family(config.env_id)
    except (ValueError, TypeError) as error:
        raise ValueError(f"env_id: {error}") from error
    train = family.train_task_ids
    if config.num_sources is None and config.task_ids is None:
        config = replace(config, num_sources=len(train))
    check_config(config)
    method = config.source_method
    if method == "auto":
        method = "oracle" if family.oracle == "exact" else "dqn"
    if method not in ("oracle", "dqn"):
        raise ValueError(
            f"source_method must be 'auto', 'oracle' or 'dqn', got {config.source_method!r}"
        )
    if method == "oracle" and family.oracle != "exact":
        raise ValueError(f"source_method='oracle' needs an exact oracle; {config.env_id} has none")
    if config.task_ids is not None:
        ids = check_train_tasks(family, config.task_ids)
        if len(ids) != config.num_sources:
            config = replace(config, num_sources=len(ids))
    assert config.num_sources is not None
    if config.num_sources > len(train):
        raise ValueError(
            f"num_sources must be <= {len(train)} (the train split), got {config.num_sources}"
        )
    if config.num_sources < 2:
        raise ValueError(
            f"num_sources must be >= 2 (pairs need two sources), got {config.num_sources}"
        )
    timesteps = config.source_timesteps or (
        600
        if method == "oracle"
        else FAMILY_SOURCE_DQN_TIMESTEPS.get(family.base_env_id(), SOURCE_DQN_TIMESTEPS)
    )
    mapper = _resolve_planner(config, family, method)
    if config.warm_start not in ("auto", "yes", "no"):
        raise ValueError(f"warm_start must be 'auto', 'yes' or 'no', got {config.warm_start!r}")
    warm_start = config.warm_start
    if warm_start == "auto":
        warm_start = "yes" if method == "dqn" else "no"
    minimum = config.min_source_return
    if isinstance(minimum, bool) or not isinstance(minimum, (int, float)) or minimum != minimum:
        raise ValueError(f"min_source_return must be a number, got {minimum!r}")
    if config.guard not in ("auto", "agreement", "validation"):
        raise ValueError(f"guard must be 'auto', 'agreement' or 'validation', got {config.guard!r}")
    guard = config.guard
    if guard == "auto":
        guard = "agreement" if method == "oracle" else "validation"
    guard_probe = _check_guard_probe(config.guard_probe, guard)
    family_kwargs = FAMILY_SOURCE_DQN_KWARGS.get(family.base_env_id(), SOURCE_DQN_KWARGS)
    dqn_kwargs = config.dqn_kwargs or (dict(family_kwargs) if method == "dqn" else {})
    resolved = replace(
        config,
        source_method=method,
        source_timesteps=timesteps,
        mapper=mapper,
        dqn_kwargs=dqn_kwargs,
        warm_start=warm_start,
        planner=mapper.grid_size is not None,
        guard=guard,
        guard_probe=guard_probe,
        guard_episodes=int(config.guard_episodes),
    )
    return resolved, family


def _check_guard_probe(value: Any, guard: str) -> tuple[int, int] | None:
    """``guard_probe`` as ``(k, e)``, or a ``ValueError`` naming what is allowed."""
    if value is None:
        return None
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(items) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and int(v) >= 1
        for v in items
    ):
        raise ValueError(
            f"guard_probe must be (k, e): k nearest sources and e probe episodes, two ints "
            f">= 1, or None; got {value!r}"
        )
    if guard != "validation":
        raise ValueError(
            f"guard_probe={value!r} needs guard='validation' (it probes validation tasks); "
            f"the guard is {guard!r}"
        )
    return int(items[0]), int(items[1])


def _resolve_planner(config: MetaTrainConfig, family: Any, method: str) -> MapperConfig:
    """The mapper configuration with the planner switched as ``config.planner`` asks."""
    if config.planner not in (None, True, False):
        raise ValueError(f"planner must be True, False or None, got {config.planner!r}")
    grid = getattr(family, "size", None) if hasattr(family, "model") else None
    mapper = config.mapper
    if config.planner is False:
        return replace(mapper, grid_size=None)
    if config.planner is True and grid is None:
        raise ValueError(
            f"planner=True needs a grid family (MetaNav, MetaFrozenLake); {config.env_id} has "
            "no grid descriptor: pass planner=False or None"
        )
    if mapper.grid_size is None and grid is not None and (config.planner or method == "oracle"):
        return replace(mapper, grid_size=grid)
    return mapper
