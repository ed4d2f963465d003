"""Task objects, the benchmark view, set_task/get_task on the env, named descriptor bounds
and the family's horizon override."""

import dataclasses
import pickle

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks
from gym_metatasks import Task


def test_family_accepts_a_horizon_override():
    family = gym_metatasks.family("MetaNav-v0", horizon=50)
    assert family.horizon == 50
    assert family is not gym_metatasks.family("MetaNav-v0")
    assert gym_metatasks.family("MetaNav-v0").horizon == 128
    env = family.make(3)
    assert env.spec.max_episode_steps == 50
    env.close()
    # the oracle answers for the shorter horizon: the same as asking with horizon=50
    default = gym_metatasks.family("MetaNav-v0")
    assert family.random_return(3) == default.random_return(3, horizon=50)
    assert family.random_return(3) != default.random_return(3)
    with pytest.raises(ValueError, match=r"horizon must be in \[1, 10000\], got 0"):
        gym_metatasks.family("MetaNav-v0", horizon=0)


def test_sample_tasks_gives_task_objects_of_the_sampled_ids():
    family = gym_metatasks.family("MetaNav-v0")
    tasks = family.sample_tasks(5, split="test", rng=3)
    ids = family.sample_task_ids(5, split="test", rng=3)
    assert [t.task_id for t in tasks] == ids.tolist()
    for task in tasks:
        assert isinstance(task, Task)
        assert task.env_id == "MetaNav-v0"
        assert task.params == family.task(task.task_id)
        assert task.split == "test"
        np.testing.assert_array_equal(task.descriptor, family.descriptor(task.task_id))


def test_as_task_takes_every_form_and_keeps_ids():
    family = gym_metatasks.family("MetaCartPole-v0")
    numbered = family.as_task(7)
    assert numbered.task_id == 7
    assert family.as_task(numbered) == numbered
    assert family.as_task(np.int64(7)) == numbered
    explicit = family.as_task(family.task(7))
    assert explicit.task_id is None
    assert explicit.params == family.task(7)
    assert explicit.split is None
    assert family.as_task(dataclasses.asdict(family.task(7))) == explicit
    # family methods take task objects and answer as for the id
    assert family.random_return(numbered) == family.random_return(7)
    np.testing.assert_array_equal(family.descriptor(numbered), family.descriptor(7))


def test_task_objects_refuse_inconsistent_or_foreign_content():
    nav = gym_metatasks.family("MetaNav-v0")
    with pytest.raises(ValueError, match="params must be the parameters of task 3"):
        Task(nav, 3, nav.task(4))
    with pytest.raises(ValueError, match="task_id must be in"):
        nav.as_task(5000)
    with pytest.raises(TypeError, match="unknown field"):
        nav.as_task({**dataclasses.asdict(nav.task(3)), "colour": 1})
    small = gym_metatasks.family("MetaNav5x5-v0")
    with pytest.raises(ValueError, match="task belongs to NavFamily\\(size=5"):
        nav.descriptor(small.as_task(0))


@pytest.mark.parametrize("env_id", gym_metatasks.families())
def test_task_objects_hash_compare_and_pickle(env_id):
    family = gym_metatasks.family(env_id)
    task = family.as_task(family.test_task_ids[0])
    clone = pickle.loads(pickle.dumps(task))
    assert clone == task
    assert hash(clone) == hash(task)
    assert clone.family is family
    assert len({task, clone, family.as_task(family.test_task_ids[1])}) == 2


@pytest.mark.parametrize("form", ["id", "task", "params", "dict"])
def test_set_task_takes_a_task_positionally(form):
    family = gym_metatasks.family("MetaNav-v0")
    value = {
        "id": 9,
        "task": family.as_task(9),
        "params": family.task(9),
        "dict": family.task_to_dict(9),
    }[form]
    env = gym.make("MetaNav-v0", task_id=1)
    env.reset(seed=0)
    env.unwrapped.set_task(value)
    assert env.unwrapped.task_id == 1  # scheduled, not active yet
    _, info = env.reset()
    assert env.unwrapped.task == family.task(9)
    assert info["task_id"] == (9 if form in ("id", "task") else None)
    assert env.unwrapped.get_task() == family.as_task(value)
    env.close()


def test_get_task_round_trips_through_set_task_and_make():
    family = gym_metatasks.family("MetaFrozenLake-v0")
    explicit = {**family.task_to_dict(4), "success_rate": 0.5}
    env = gym.make("MetaFrozenLake-v0", task=explicit)
    task = env.unwrapped.get_task()
    assert task.task_id is None
    assert task.params.success_rate == 0.5
    env.unwrapped.set_task(12)
    env.reset()
    assert env.unwrapped.get_task() == family.as_task(12)
    env.unwrapped.set_task(task)
    env.reset()
    assert env.unwrapped.get_task() == task
    env.close()
    # a numbered task object keeps its id through gym.make and reset options
    env = gym.make("MetaFrozenLake-v0", task=family.as_task(12))
    assert env.unwrapped.task_id == 12
    _, info = env.reset(options={"task": family.as_task(30)})
    assert info["task_id"] == 30
    env.close()


def test_set_task_refuses_bad_input_at_once():
    env = gym.make("MetaNav-v0", task_id=1)
    unwrapped = env.unwrapped
    with pytest.raises(ValueError, match="set_task needs exactly one of task or task_id"):
        unwrapped.set_task()
    with pytest.raises(ValueError, match=r"task_id must be in \[0, 1000\), got 5000"):
        unwrapped.set_task(5000)
    with pytest.raises(TypeError, match=r"task must be a task id .* got 'seven'"):
        unwrapped.set_task("seven")
    with pytest.raises(TypeError, match=r"task_id must be an int in \[0, 1000\), got 2\.0"):
        unwrapped.task_id = 2.0
    with pytest.raises(ValueError, match="task_id=None needs explicit parameters"):
        unwrapped.task_id = None
    _, info = env.reset(seed=0)
    assert info["task_id"] == 1  # nothing was scheduled
    env.close()


def test_benchmark_lists_the_splits_as_task_objects():
    bench = gym_metatasks.benchmark("MetaNav5x5-v0")
    family = gym_metatasks.family("MetaNav5x5-v0")
    assert bench.family is family
    assert [t.task_id for t in bench.train_tasks] == list(family.train_task_ids)
    assert [t.task_id for t in bench.validation_tasks] == list(family.validation_task_ids)
    assert [t.task_id for t in bench.test_tasks] == list(family.test_task_ids)
    assert {t.split for t in bench.test_tasks} == {"test"}
    assert not {t.params for t in bench.train_tasks} & {t.params for t in bench.test_tasks}
    assert set(bench.train_classes) == set(bench.test_classes) == {"MetaNav5x5-v0"}


def test_benchmark_envs_run_the_tasks_they_are_given():
    bench = gym_metatasks.benchmark("MetaCartPole-v0")
    task = bench.test_tasks[3]
    env = bench.test_classes["MetaCartPole-v0"]()
    env.unwrapped.set_task(task)
    _, info = env.reset(seed=0)
    assert info["task_id"] == task.task_id
    assert env.unwrapped.gravity == task.params.gravity
    env.close()
    env = bench.make_env(bench.train_tasks[0])
    assert env.unwrapped.get_task() == bench.train_tasks[0]
    assert env.spec.max_episode_steps == 500
    env.close()


def test_task_objects_of_a_family_with_another_horizon_are_the_same_tasks():
    bench = gym_metatasks.benchmark("MetaNav-v0", horizon=50)
    task = bench.train_tasks[0]
    assert task == gym_metatasks.family("MetaNav-v0").as_task(task.task_id)
    env = bench.make_env(task)
    assert env.spec.max_episode_steps == 50
    assert env.unwrapped.get_task() == task
    env.close()
    with pytest.raises(ValueError, match="task belongs to NavFamily"):
        gym_metatasks.family("MetaNav-v0", size=6).as_task(task)


def test_benchmark_refuses_what_is_not_a_family():
    with pytest.raises(ValueError, match="is not registered"):
        gym_metatasks.benchmark("MetaNope-v0")
    with pytest.raises(TypeError, match="family must be a TaskFamily"):
        gym_metatasks.Benchmark(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("env_id", ["MetaCartPole-v0", "MetaNav5x5-v0", "MetaRecommend-v0"])
def test_descriptor_bounds_name_every_entry(env_id):
    family = gym_metatasks.family(env_id)
    bounds = family.descriptor_bounds()
    assert tuple(bounds) == family.descriptor_names
    space = family.descriptor_space
    for k, name in enumerate(family.descriptor_names):
        assert bounds[name] == (float(space.low[k]), float(space.high[k]))


def test_physics_descriptor_bounds_cover_the_valid_range():
    family = gym_metatasks.family("MetaCartPole-v0")
    low, high = family.descriptor_bounds()["gravity"]
    parameter = next(p for p in family.parameters if p.name == "gravity")
    assert low == pytest.approx(parameter.descriptor(parameter.valid_low))
    assert high == pytest.approx(parameter.descriptor(parameter.valid_high))
    assert low < 0.0 < 1.0 < high
