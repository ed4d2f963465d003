"""Finite tabular MDPs: the transition model behind the grid families, and the exact
finite-horizon dynamic programming that gives their optimal and random returns.

The same :class:`TabularModel` drives both the environment's ``step`` and the oracle, so
the oracle can never disagree with the dynamics the agent sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class TabularModel:
    """Outcomes of every (state, action) pair, padded to ``K`` outcomes with probability 0.

    :param next_state: ``(S, A, K)`` int64, the state after each outcome
    :param prob: ``(S, A, K)`` float64, the probability of each outcome (rows sum to 1)
    :param reward: ``(S, A, K)`` float64, the reward of each outcome
    :param terminal: ``(S, A, K)`` bool, whether the outcome ends the episode
    :param start: the start state
    """

    next_state: NDArray[np.int64]
    prob: NDArray[np.float64]
    reward: NDArray[np.float64]
    terminal: NDArray[np.bool_]
    start: int

    @property
    def num_states(self) -> int:
        return int(self.prob.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.prob.shape[1])

    @classmethod
    def from_outcomes(
        cls, outcomes: list[list[dict[int, tuple[float, float, bool]]]], start: int
    ) -> TabularModel:
        """Build from ``outcomes[s][a] = {next_state: (prob, reward, terminal)}``."""
        num_states, num_actions = len(outcomes), len(outcomes[0])
        width = max(len(row) for per_state in outcomes for row in per_state)
        next_state = np.zeros((num_states, num_actions, width), dtype=np.int64)
        prob = np.zeros((num_states, num_actions, width))
        reward = np.zeros((num_states, num_actions, width))
        terminal = np.zeros((num_states, num_actions, width), dtype=bool)
        for s, per_state in enumerate(outcomes):
            for a, row in enumerate(per_state):
                for k, (s_next, (p, r, done)) in enumerate(sorted(row.items())):
                    next_state[s, a, k], prob[s, a, k] = s_next, p
                    reward[s, a, k], terminal[s, a, k] = r, done
                next_state[s, a, len(row) :] = s  # padding: probability 0
        return cls(next_state, prob, reward, terminal, start)

    def q_backup(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """One Bellman backup: ``Q[s, a] = E[r + (1 - terminal) * values[s']]``."""
        continuation = np.where(self.terminal, 0.0, values[self.next_state])
        return np.einsum("sak,sak->sa", self.prob, self.reward + continuation)


def optimal_q_values(model: TabularModel, horizon: int) -> NDArray[np.float64]:
    """Optimal action values for every number of remaining steps.

    :return: ``(horizon + 1, S, A)``; entry ``[t]`` holds Q* with ``t`` steps left
        (entry 0 is all zeros)
    """
    q = np.zeros((horizon + 1, model.num_states, model.num_actions))
    values = np.zeros(model.num_states)
    for t in range(1, horizon + 1):
        q[t] = model.q_backup(values)
        values = q[t].max(axis=1)
    return q


def optimal_return(model: TabularModel, horizon: int) -> float:
    """Expected undiscounted return of an optimal policy within ``horizon`` steps."""
    return float(optimal_q_values(model, horizon)[horizon, model.start].max())


def policy_return(model: TabularModel, actions: NDArray[np.integer], horizon: int) -> float:
    """Expected undiscounted return of the deterministic policy ``actions[state]`` within
    ``horizon`` steps."""
    states = np.arange(model.num_states)
    values = np.zeros(model.num_states)
    for _ in range(horizon):
        values = model.q_backup(values)[states, actions]
    return float(values[model.start])


def uniform_policy_return(model: TabularModel, horizon: int) -> float:
    """Expected undiscounted return of the uniformly random policy within ``horizon`` steps."""
    values = np.zeros(model.num_states)
    for _ in range(horizon):
        values = model.q_backup(values).mean(axis=1)
    return float(values[model.start])


def discounted_optimal_q_values(
    model: TabularModel, gamma: float, tolerance: float = 1e-8, max_iterations: int = 10_000
) -> NDArray[np.float64]:
    """Infinite-horizon discounted Q* by value iteration (what DQN with discount ``gamma``
    estimates when the time limit is ignored).

    :return: ``(S, A)``
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
    values = np.zeros(model.num_states)
    continuation = ~model.terminal
    q = np.zeros((model.num_states, model.num_actions))
    for _ in range(max_iterations):
        expected = model.reward + gamma * np.where(continuation, values[model.next_state], 0.0)
        q = np.einsum("sak,sak->sa", model.prob, expected)
        new_values = q.max(axis=1)
        if np.max(np.abs(new_values - values)) < tolerance:
            break
        values = new_values
    return q
