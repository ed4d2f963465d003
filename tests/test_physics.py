"""Physics families: parameters reach the dynamics, reference data, solvability."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks
from gym_metatasks.envs.physics import PhysicsFamily, _stored_random_returns


def test_default_task_reproduces_the_gymnasium_original():
    for ours_id, theirs_id in (
        ("MetaCartPole-v0", "CartPole-v1"),
        ("MetaAcrobot-v0", "Acrobot-v1"),
        ("MetaMountainCar-v0", "MountainCar-v0"),
    ):
        family = gym_metatasks.family(ours_id)
        ours = gym.make(ours_id, task=family.default_task())
        theirs = gym.make(theirs_id)
        a, _ = ours.reset(seed=4)
        b, _ = theirs.reset(seed=4)
        np.testing.assert_array_equal(a, b)
        for action in np.random.default_rng(0).integers(ours.action_space.n, size=100):
            a, ra, ta, _, _ = ours.step(int(action))
            b, rb, tb, _, _ = theirs.step(int(action))
            np.testing.assert_array_equal(a, b)
            assert (ra, ta) == (rb, tb)
            if ta:
                break
        ours.close()
        theirs.close()


def test_acrobot_parameters_reach_the_dynamics():
    family = gym_metatasks.family("MetaAcrobot-v0")
    env = gym.make("MetaAcrobot-v0", task_id=5)
    task = family.task(5)
    inner = env.unwrapped
    assert task.link_mass_2 == inner.LINK_MASS_2
    assert [-task.max_torque, 0.0, task.max_torque] == inner.AVAIL_TORQUE
    assert type(inner).LINK_MASS_2 == 1.0  # the class constant is untouched
    env.close()


@pytest.mark.parametrize("env_id", ["MetaCartPole-v0", "MetaAcrobot-v0", "MetaMountainCar-v0"])
def test_stored_random_returns_cover_every_task(env_id):
    family = gym_metatasks.family(env_id)
    stored = _stored_random_returns()[env_id]
    assert stored["horizon"] == family.horizon
    assert stored["episodes"] == family.random_return_episodes
    assert len(stored["mean"]) == family.num_tasks
    assert family.random_return(3) == stored["mean"][3]
    assert family.random_return(3) < family.optimal_return(3)


@pytest.mark.parametrize("env_id", ["MetaCartPole-v0", "MetaMountainCar-v0"])
def test_stored_random_returns_are_reproducible(env_id):
    family = gym_metatasks.family(env_id)
    for task_id in (0, family.test_task_ids[7]):
        mean, _ = family.measure_random_return(task_id)
        assert mean == pytest.approx(family.random_return(task_id), abs=1e-6)


def test_explicit_tasks_get_a_measured_random_return():
    family = gym_metatasks.family("MetaCartPole-v0")
    value = family.random_return(family.default_task())
    assert 10.0 < value < 40.0  # a random policy balances CartPole-v1 for ~22 steps
    assert family.optimal_return(family.default_task()) == 500.0


def balance(obs):
    return int(obs[2] + 0.5 * obs[3] + 0.05 * obs[0] + 0.2 * obs[1] > 0)


def pump(obs):
    return 2 if obs[1] >= 0 else 0


def swing(obs):
    return 2 if obs[5] > 0 else 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env_id", "controller", "target"),
    [
        ("MetaCartPole-v0", balance, 500.0),
        ("MetaMountainCar-v0", pump, -199.0),
        ("MetaAcrobot-v0", swing, -499.0),
    ],
)
def test_every_physics_task_is_solvable_by_a_simple_controller(env_id, controller, target):
    """A fixed hand-written controller reaches the goal within the time limit on every
    train and test task (from at least one of three start states, and from 99% of all),
    which shows the parameter bounds keep every task solvable."""
    family = gym_metatasks.family(env_id)
    assert isinstance(family, PhysicsFamily)
    outcomes = []
    for task_id in family.split_task_ids("all"):
        env = family.make_unwrapped(family.task(task_id))
        solved = []
        for seed in range(3):
            obs, _ = env.reset(seed=seed)
            total = 0.0
            for _ in range(family.horizon):
                obs, reward, terminated, _, _ = env.step(controller(obs))
                total += reward
                if terminated:
                    break
            solved.append(total >= target)
        assert any(solved), task_id
        outcomes.extend(solved)
    assert np.mean(outcomes) >= 0.99


PHYSICS_IDS = ["MetaCartPole-v0", "MetaAcrobot-v0", "MetaMountainCar-v0"]


@pytest.mark.parametrize("env_id", PHYSICS_IDS)
def test_the_extrapolation_set_moves_one_parameter_to_either_end_of_its_valid_range(env_id):
    family = gym_metatasks.family(env_id)
    tasks = family.extrapolation_tasks()
    assert len(tasks) == 2 * len(family.parameters)
    for p in family.parameters:
        for label, value in (("low/2", 0.5 * p.low), ("1.5high", 1.5 * p.high)):
            task = tasks[f"{p.name}={label}"]
            assert getattr(task, p.name) == pytest.approx(value)
            others = [q for q in family.parameters if q is not p]
            assert all(getattr(task, q.name) == pytest.approx((q.low + q.high) / 2) for q in others)
            assert not family.in_sampling_bounds(task)
            descriptor = family.descriptor(task)
            assert not np.all((descriptor >= 0) & (descriptor <= 1))
            assert family.descriptor_space.contains(descriptor)
    assert all(family.in_sampling_bounds(t) for t in family.test_task_ids[:20])


@pytest.mark.parametrize("env_id", PHYSICS_IDS)
def test_an_extrapolated_task_runs_and_its_descriptor_is_observed(env_id):
    from gymnasium.utils.env_checker import check_env

    family = gym_metatasks.family(env_id)
    task = next(iter(family.extrapolation_tasks().values()))
    env = gym_metatasks.ObserveDescriptor(gym.make(env_id, task=task))
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs[-len(family.parameters) :], info["task_descriptor"])
    assert info["task_descriptor"].min() < 0 or info["task_descriptor"].max() > 1
    with warnings.catch_warnings():  # CartPole's velocities are unbounded, as in Gymnasium
        warnings.filterwarnings("ignore", message=".*Box observation space m..imum value")
        check_env(env.unwrapped, skip_render_check=True)


def test_explicit_tasks_beyond_the_valid_range_are_refused():
    family = gym_metatasks.family("MetaCartPole-v0")
    task = {p.name: p.median for p in family.parameters}
    family.validate({**task, "gravity": 2.45})  # exactly half the lower bound
    with pytest.raises(ValueError, match=r"task.gravity must be in \[2.45, 22.05.*\], got 2.4"):
        family.validate({**task, "gravity": 2.4})


def test_every_initializer_starts_an_extrapolated_task():
    """Descriptors outside [0, 1] reach each initializer as they are: the embedded
    meta-learner and the bank baselines built on it start the task, and a task-conditioned
    agent observes the descriptor in its wider space."""
    from sb3_metadqn import MetaDQN, NearestSource, SourceAverage, TaskConditionedDQN, WarmStartDQN

    family = gym_metatasks.family("MetaCartPole-v0")
    task = family.extrapolation_tasks()["length=1.5high"]
    descriptor = family.descriptor(task)
    assert descriptor[3] > 1
    model = MetaDQN("MlpPolicy", family.make(task=task), buffer_size=100)
    assert model.meta_init["descriptor_distance"] > 0
    for initializer in (NearestSource.of(model.meta_learner), SourceAverage.of(model.meta_learner)):
        warm = WarmStartDQN("MlpPolicy", family.make(task=task), initializer=initializer)
        assert warm.meta_init["initializer"] == initializer.kind
    env = gym_metatasks.ObserveDescriptor(family.make(task=task), mode="dict")
    conditioned = TaskConditionedDQN("MultiInputPolicy", env, buffer_size=100)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["task_descriptor"], descriptor)
    conditioned.predict(obs, deterministic=True)
