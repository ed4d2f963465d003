"""MetaDQN: SB3's DQN with a Q-network initialized through the mapping network."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.dqn.policies import DQNPolicy

from sb3_metadqn import pretrained
from sb3_metadqn.agents.task_env import env_attr
from sb3_metadqn.agents.warm_start import WarmStartDQN
from sb3_metadqn.core.initializer import Initializer
from sb3_metadqn.core.meta_learner import MetaLearner

#: MetaDQN's ``anchor_rate``, chosen on MetaFrozenLake-v0 validation tasks (see the
#: benchmarks README, "Settings and where they were chosen").
DEFAULT_ANCHOR_RATE = 0.003
#: MetaDQN's default ``action_anchor`` by the meta-learner's family, each chosen on that
#: family's validation tasks by the area under the learning curve (benchmarks README,
#: "Settings and where they were chosen"); meta-learners of other families: 0.
FAMILY_ACTION_ANCHOR: dict[str, float] = {
    "MetaNav-v0": 10.0,
    "MetaFrozenLake-v0": 10.0,
    "MetaCartPole-v0": 10.0,
    "MetaAcrobot-v0": 10.0,
    "MetaMountainCar-v0": 10.0,
    "MetaRecommend-v0": 0.0,
}
#: MetaDQN's default probe by the meta-learner's family: (``meta_candidates``,
#: ``meta_probe_episodes``), chosen on that family's validation tasks (benchmarks README,
#: "Settings and where they were chosen"); meta-learners of other families: (1, 0), the
#: nearest source without a probe.
FAMILY_PROBE: dict[str, tuple[int, int]] = {
    "MetaCartPole-v0": (4, 1),
    "MetaAcrobot-v0": (3, 1),
    "MetaFrozenLake-v0": (6, 3),
    "MetaMountainCar-v0": (10, 3),
    "MetaRecommend-v0": (10, 3),
}


class MetaDQN(WarmStartDQN):
    """Deep Q-Network whose Q-network and target network start from theta_i' = W_ij theta_j.

    A :class:`~sb3_metadqn.WarmStartDQN` whose initializer is a meta-learner: every argument
    of :class:`stable_baselines3.DQN` and of ``WarmStartDQN`` works (exploration defaults
    0.05, ``task_descriptor``, ``meta_candidates``, ``meta_probe_steps``, ``anchor_rate``).
    After construction, ``model.meta_init`` records what the initialization did (source task
    id, descriptor distance, probe scores) and ``model.meta_learner`` is the meta-learner used.
    The additions are

    :param meta_learner: a :class:`~sb3_metadqn.MetaLearner`, a path to one, or None for the
        pretrained meta-learner embedded for the env's family (see
        :func:`sb3_metadqn.pretrained.available`)
    :param anchor_rate: as in ``WarmStartDQN``, but 0.003 by default: after every gradient
        step the distance back to the mapped initialization shrinks by the factor
        ``1 - anchor_rate``, so adaptation refines the mapped network
        instead of overwriting it (0: plain fine-tuning)
    :param action_anchor: as in ``WarmStartDQN``; None (the default): the value chosen for
        the meta-learner's family (``FAMILY_ACTION_ANCHOR``; 0 for other families)
    :param meta_candidates, meta_probe_episodes: as in ``WarmStartDQN``; None for both (the
        default, without ``meta_probe_steps``): the probe chosen for the meta-learner's family
        (``FAMILY_PROBE``: its k nearest sources, mapped, each play a few greedy episodes
        before learning and the best start wins; the nearest source for other families)
    """

    _initializer_name: ClassVar[str] = "meta_learner"
    _initializer_type: ClassVar[type[Initializer]] = MetaLearner

    def __init__(
        self,
        policy: str | type[DQNPolicy],
        env: GymEnv | str,
        *args: Any,
        meta_learner: MetaLearner | str | os.PathLike[str] | None = None,
        anchor_rate: float = DEFAULT_ANCHOR_RATE,
        action_anchor: float | None = None,
        meta_candidates: int | None = None,
        meta_probe_episodes: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._family_action_anchor = action_anchor is None
        self._family_probe = (
            meta_candidates is None
            and meta_probe_episodes is None
            and not kwargs.get("meta_probe_steps")
        )
        super().__init__(
            policy,
            env,
            *args,
            initializer=meta_learner,
            anchor_rate=anchor_rate,
            action_anchor=0.0 if action_anchor is None else action_anchor,
            meta_candidates=1 if meta_candidates is None else meta_candidates,
            meta_probe_episodes=0 if meta_probe_episodes is None else meta_probe_episodes,
            **kwargs,
        )

    @property
    def meta_learner(self) -> MetaLearner | None:
        """The meta-learner that initialized the Q-network."""
        assert self.initializer is None or isinstance(self.initializer, MetaLearner)
        return self.initializer

    def _warm_start(self) -> None:
        if self._family_probe:
            initializer = self._resolve_initializer()
            self._initializer_arg = initializer
            self.meta_candidates, self.meta_probe_episodes = FAMILY_PROBE.get(
                initializer.env_id, (1, 0)
            )
        super()._warm_start()
        if self._family_action_anchor and self.initializer is not None:
            self.action_anchor = FAMILY_ACTION_ANCHOR.get(self.initializer.env_id, 0.0)

    def _resolve_initializer(self) -> Initializer:
        if self._initializer_arg is not None:
            return super()._resolve_initializer()
        families = env_attr(self.env, "family")
        if not families:
            raise ValueError(
                "meta_learner=None needs an env of a registered gym_metatasks family (it loads "
                "that family's embedded meta-learner); pass meta_learner= a path or MetaLearner"
            )
        return pretrained.load(families[0])
