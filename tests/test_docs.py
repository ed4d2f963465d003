"""The env docstrings (the envs' documentation pages) stay true to the code."""

import re

import gymnasium as gym
import pytest

import gym_metatasks
from gym_metatasks.envs.physics import PhysicsFamily
from tests.helpers import ALL_ENV_IDS

SECTIONS = [
    "## Description",
    "## Action Space",
    "## Observation Space",
    "## Rewards",
    "## Starting State",
    "## Episode End",
    "## Information",
    "## Arguments",
    "## Task Descriptor",
    "## Registered Configurations",
    "## Version History",
]


def doc_of(env_id: str) -> str:
    return type(gym.make(env_id).unwrapped).__doc__ or ""


def section(doc: str, name: str) -> str:
    start = doc.index(f"## {name}")
    end = doc.find("## ", start + 3)
    return doc[start : end if end >= 0 else None]


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_docstring_has_every_section_in_order(env_id):
    doc = doc_of(env_id)
    positions = [doc.index(name) for name in SECTIONS]
    assert positions == sorted(positions)


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_documented_info_keys_are_the_real_ones(env_id):
    documented = set(re.findall(r"^\s*- ``(\w+)``:", section(doc_of(env_id), "Information"), re.M))
    env = gym.make(env_id, task_id=1)
    _, reset_info = env.reset(seed=0)
    _, _, _, _, step_info = env.step(0)
    assert documented == set(reset_info) == set(step_info)
    env.close()


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_documented_registrations_exist(env_id):
    doc = doc_of(env_id)
    listed = re.findall(r"- ``(\w+-v\d+)``: ", section(doc, "Registered Configurations"))
    assert env_id in listed
    for listed_id in listed:
        assert gym.spec(listed_id).max_episode_steps == gym_metatasks.family(listed_id).horizon


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_documented_spaces_are_the_real_ones(env_id):
    env = gym.make(env_id)
    text = section(doc_of(env_id), "Observation Space")
    space = env.observation_space
    name = type(space).__name__
    assert f"``{name}(" in text
    if hasattr(space, "shape") and space.shape:
        size = space.shape[0]
        family = gym_metatasks.family(env_id)
        assert f"({size},)" in text or ("(size * size" in text and size == family.size**2)
    action_text = section(doc_of(env_id), "Action Space")
    assert f"``Discrete({env.action_space.n})``" in action_text
    env.close()


@pytest.mark.parametrize("env_id", ["MetaCartPole-v0", "MetaAcrobot-v0", "MetaMountainCar-v0"])
def test_documented_parameter_bounds_are_the_real_ones(env_id):
    family = gym_metatasks.family(env_id)
    assert isinstance(family, PhysicsFamily)
    text = section(doc_of(env_id), "Task Descriptor")
    rows = re.findall(r"\| (\d+) \| ``(\w+)`` \| \[([\d.]+), ([\d.]+)\] \| ([\d.]+) \|", text)
    assert [(int(i), n, float(lo), float(hi), float(d)) for i, n, lo, hi, d in rows] == [
        (i, p.name, p.low, p.high, p.default) for i, p in enumerate(family.parameters)
    ]
