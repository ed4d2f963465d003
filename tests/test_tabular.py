import numpy as np
import pytest

from gym_metatasks import tabular


def chain(n: int, p_forward: float) -> tabular.TabularModel:
    """States 0..n-1 on a line; action 1 moves right with p_forward, action 0 stays;
    entering n-1 pays 1 and ends the episode."""
    outcomes = []
    for s in range(n):
        stay = {s: (1.0, 0.0, s == n - 1)}
        if s == n - 1:
            outcomes.append([stay, stay])
            continue
        nxt = s + 1
        forward = {nxt: (p_forward, float(nxt == n - 1), nxt == n - 1)}
        if p_forward < 1.0:
            forward[s] = (1.0 - p_forward, 0.0, False)
        outcomes.append([stay, forward])
    return tabular.TabularModel.from_outcomes(outcomes, start=0)


def test_deterministic_chain():
    model = chain(5, 1.0)
    assert tabular.optimal_return(model, horizon=4) == 1.0
    assert tabular.optimal_return(model, horizon=3) == 0.0


def test_stochastic_chain_matches_the_binomial():
    # the end needs 2 successes of probability 0.5 within 4 attempts: 1 - P(0) - P(1)
    model = chain(3, 0.5)
    assert tabular.optimal_return(model, horizon=4) == pytest.approx(1 - 1 / 16 - 4 / 16)


def test_uniform_policy_return():
    model = chain(2, 1.0)
    # each step: with probability 1/2 the agent moves and is paid 1
    assert tabular.uniform_policy_return(model, 1) == pytest.approx(0.5)
    assert tabular.uniform_policy_return(model, 2) == pytest.approx(0.75)


def test_q_values_have_one_table_per_steps_left():
    model = chain(4, 1.0)
    q = tabular.optimal_q_values(model, 5)
    assert q.shape == (6, 4, 2)
    assert np.all(q[0] == 0)
    assert q[3, 0, 1] == 1.0
    assert q[2, 0, 1] == 0.0


def test_discounted_q_star_greedy_policy_is_optimal_on_deterministic_tasks() -> None:
    import gym_metatasks
    from gym_metatasks.tabular import discounted_optimal_q_values

    family = gym_metatasks.family("MetaNav-v0")
    checked = 0
    for task_id in family.test_task_ids[:40]:
        if family.task(task_id).slip > 0:
            continue
        q = discounted_optimal_q_values(family.model(task_id), gamma=0.99)
        env = family.make(task_id)
        obs, _ = env.reset(seed=0)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(q[int(obs.argmax())].argmax()))
            total += float(reward)
            done = terminated or truncated
        assert total == pytest.approx(family.optimal_return(task_id))
        checked += 1
    assert checked >= 10


def test_discounted_q_star_rejects_gamma_one() -> None:
    import gym_metatasks
    from gym_metatasks.tabular import discounted_optimal_q_values

    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\), got 1.0"):
        discounted_optimal_q_values(gym_metatasks.family("MetaNav-v0").model(0), gamma=1.0)
