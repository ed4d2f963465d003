"""The most-popular-item recommender: the action with the highest click-through rate so far,
whatever the user and the session state.

Each action keeps its clicks (summed rewards) and impressions; its estimate is
``(clicks + 1) / (impressions + 2)``. ``learn`` shows the most popular item, or with
probability ``exploration_rate`` a uniformly random one, and counts the outcome.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from sb3_metadqn._checks import check_number
from sb3_metadqn.baselines.session_bandit import SessionBandit
from sb3_metadqn.io import artifacts


@artifacts.register
class MostPopular(SessionBandit):
    """Recommend the item with the best smoothed click-through rate.

    :param policy: ``"BanditPolicy"``
    :param env: the env of one task (or its registered id); ``Discrete`` observations and
        actions
    :param exploration_rate: probability of a uniformly random item in ``learn``
    :param seed: seed of the exploration and the env
    :param initial: a MostPopular whose counts this one starts from (population counts)
    :param task_descriptor: overrides the env's task descriptor (unused by the scores)
    :param verbose: 0 silent, 1 training logs
    """

    kind: ClassVar[str] = "most-popular"

    def __init__(
        self,
        policy: str = "BanditPolicy",
        env: Any = None,
        exploration_rate: float = 0.1,
        seed: int | None = None,
        initial: MostPopular | None = None,
        task_descriptor: Any = None,
        verbose: int = 0,
    ) -> None:
        self.exploration_rate = check_number("exploration_rate", exploration_rate, 0.0, 1.0)
        super().__init__(policy, env, seed, initial, task_descriptor, verbose)

    def _setup_model(self) -> None:
        super()._setup_model()
        self.clicks = np.zeros(self.n_actions)
        self.impressions = np.zeros(self.n_actions)

    def popularity(self) -> NDArray[np.float64]:
        """``(n_actions,)`` smoothed click-through rates."""
        return (self.clicks + 1.0) / (self.impressions + 2.0)

    def scores(self, observations: NDArray[np.int64], explore: bool) -> NDArray[np.float64]:
        scores = np.repeat(self.popularity()[None], len(observations), axis=0)
        if explore and self.exploration_rate > 0.0:
            random = self._rng.random(len(observations)) < self.exploration_rate
            scores[random] = self._rng.random((int(random.sum()), self.n_actions))
        return scores

    def update(self, observation: int, action: int, reward: float) -> None:
        self.clicks[action] += reward
        self.impressions[action] += 1.0

    def statistics(self) -> dict[str, NDArray[np.float64]]:
        return {"clicks": self.clicks.copy(), "impressions": self.impressions.copy()}

    def set_statistics(self, statistics: dict[str, NDArray[np.float64]]) -> None:
        self.clicks = np.array(statistics["clicks"], dtype=np.float64)
        self.impressions = np.array(statistics["impressions"], dtype=np.float64)

    def hyperparameters(self) -> dict[str, Any]:
        return {"exploration_rate": self.exploration_rate}


__all__ = ["MostPopular"]
