"""LinUCB (Li, Chu, Langford and Schapire, 2010, "disjoint" form): one ridge regression per
action over user-by-context features, acting on the upper confidence bound.

The context of a step is ``[1, task descriptor, one-hot of the observation]``: the user's
side information and the session state. Action ``a`` keeps ``A_a = I + sum x x^T`` and
``b_a = sum r x`` over the steps it was taken; its estimate is ``theta_a . x`` with
``theta_a = A_a^{-1} b_a`` and its exploring score adds ``alpha * sqrt(x^T A_a^{-1} x)``.
Scores per action over the same context are the scores of a shared linear model over the
outer product of user and item features.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from sb3_metadqn._checks import check_number
from sb3_metadqn.baselines.session_bandit import SessionBandit
from sb3_metadqn.io import artifacts


@artifacts.register
class LinUCB(SessionBandit):
    """Disjoint LinUCB over ``[1, descriptor, one-hot observation]``.

    :param policy: ``"BanditPolicy"``
    :param env: the env of one task (or its registered id); ``Discrete`` observations and
        actions
    :param alpha: width of the confidence bound in ``learn`` (0: greedy on the estimates);
        the default was chosen on MetaRecommend-v0's validation users (benchmarks README)
    :param seed: seed of the tie breaking and the env
    :param initial: a LinUCB whose statistics this one starts from (a population model)
    :param task_descriptor: overrides the env's task descriptor
    :param verbose: 0 silent, 1 training logs
    """

    kind: ClassVar[str] = "linucb"

    def __init__(
        self,
        policy: str = "BanditPolicy",
        env: Any = None,
        alpha: float = 0.1,
        seed: int | None = None,
        initial: LinUCB | None = None,
        task_descriptor: Any = None,
        verbose: int = 0,
    ) -> None:
        self.alpha = check_number("alpha", alpha, 0.0, 100.0)
        super().__init__(policy, env, seed, initial, task_descriptor, verbose)

    def _setup_model(self) -> None:
        super()._setup_model()
        self.n_features = 1 + self.descriptor.shape[0] + self.n_observations
        self.a_inv = np.repeat(np.eye(self.n_features)[None], self.n_actions, axis=0)
        self.b = np.zeros((self.n_actions, self.n_features))

    def features(self, observations: NDArray[np.int64]) -> NDArray[np.float64]:
        """``(batch, n_features)`` contexts of a batch of observations."""
        x = np.zeros((len(observations), self.n_features))
        x[:, 0] = 1.0
        x[:, 1 : 1 + self.descriptor.shape[0]] = self.descriptor
        x[np.arange(len(observations)), 1 + self.descriptor.shape[0] + observations] = 1.0
        return x

    def scores(self, observations: NDArray[np.int64], explore: bool) -> NDArray[np.float64]:
        x = self.features(observations)
        theta = np.einsum("aij,aj->ai", self.a_inv, self.b)
        estimate = x @ theta.T
        if not explore or self.alpha == 0.0:
            return estimate
        width = np.sqrt(np.einsum("ni,aij,nj->na", x, self.a_inv, x))
        return estimate + self.alpha * width

    def update(self, observation: int, action: int, reward: float) -> None:
        x = self.features(np.array([observation]))[0]
        a_inv = self.a_inv[action]
        ax = a_inv @ x
        a_inv -= np.outer(ax, ax) / (1.0 + x @ ax)  # Sherman-Morrison
        self.b[action] += reward * x

    def statistics(self) -> dict[str, NDArray[np.float64]]:
        return {"a_inv": self.a_inv.copy(), "b": self.b.copy()}

    def set_statistics(self, statistics: dict[str, NDArray[np.float64]]) -> None:
        self.a_inv = np.array(statistics["a_inv"], dtype=np.float64)
        self.b = np.array(statistics["b"], dtype=np.float64)

    def hyperparameters(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


__all__ = ["LinUCB"]
