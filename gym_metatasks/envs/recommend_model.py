"""The user model behind MetaRecommend: the item catalog, the session state and the click,
fatigue and satisfaction dynamics, written out as the tabular model that both the env and
the oracle step through.

A session state is ``(last_topic, streak, satisfaction)``: the topic of the last clicked
item (or none yet), how many clicks in a row went to that topic (capped at
:data:`MAX_STREAK`) and the user's satisfaction in ``1..MAX_SATISFACTION``. Its index is
``(last_topic * MAX_STREAK + streak - 1) * MAX_SATISFACTION + satisfaction - 1`` with
``last_topic = NUM_TOPICS`` (and ``streak = 1``) before the first click.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from gym_metatasks import tabular
from gym_metatasks.task_rng import TaskRng, task_seed

IntLike = TypeVar("IntLike", int, NDArray[np.int64])
TOPICS: tuple[str, ...] = ("news", "sports", "music", "film")
NUM_TOPICS = len(TOPICS)
#: Items per topic: the catalog holds one high-quality and one low-quality item of each.
ITEMS_PER_TOPIC = 2
NUM_ITEMS = NUM_TOPICS * ITEMS_PER_TOPIC
HIGH_QUALITY = (0.65, 0.95)
LOW_QUALITY = (0.15, 0.45)
MAX_STREAK = 3
MAX_SATISFACTION = 5
START_SATISFACTION = 3
NUM_STATES = (NUM_TOPICS + 1) * MAX_STREAK * MAX_SATISFACTION
#: Click probability is ``interest * (APPEAL_FLOOR + (1 - APPEAL_FLOOR) * appeal)``.
APPEAL_FLOOR = 0.7


@dataclass(frozen=True)
class Catalog:
    """The items a recommender can show; fixed for a family version.

    :param topic: ``(NUM_ITEMS,)`` topic index of each item
    :param quality: ``(NUM_ITEMS,)`` quality in ``[0, 1]``: a click on the item raises
        satisfaction with this probability and lowers it otherwise
    """

    topic: tuple[int, ...]
    quality: tuple[float, ...]


def make_catalog(family_key: str) -> Catalog:
    """The catalog of a family version, drawn from its own stream: item ``2k`` of topic
    ``k`` has quality ``~ U[0.65, 0.95]``, item ``2k + 1`` quality ``~ U[0.15, 0.45]``
    (3 decimals)."""
    rng = TaskRng(task_seed(family_key + "/catalog", 0))
    topic, quality = [], []
    for k in range(NUM_TOPICS):
        for bounds in (HIGH_QUALITY, LOW_QUALITY):
            topic.append(k)
            quality.append(round(rng.uniform(*bounds), 3))
    return Catalog(tuple(topic), tuple(quality))


def state_index(last_topic: IntLike, streak: IntLike, satisfaction: IntLike) -> IntLike:
    """Index of a session state (``last_topic == NUM_TOPICS``: nothing clicked yet); ints or
    integer arrays, broadcast together."""
    return ((last_topic * MAX_STREAK) + streak - 1) * MAX_SATISFACTION + satisfaction - 1


def decode_state(state: int) -> tuple[int, int, int]:
    """``(last_topic, streak, satisfaction)`` of a state index."""
    rest, satisfaction = divmod(int(state), MAX_SATISFACTION)
    last_topic, streak = divmod(rest, MAX_STREAK)
    return last_topic, streak + 1, satisfaction + 1


START_STATE = state_index(NUM_TOPICS, 1, START_SATISFACTION)


#: ``(last_topic, streak, satisfaction)`` of every state, each ``(NUM_STATES,)``.
STATE_LAST, STATE_STREAK, STATE_SATISFACTION = (
    np.array(column) for column in zip(*(decode_state(s) for s in range(NUM_STATES)), strict=True)
)


def click_probabilities(
    catalog: Catalog, interests: NDArray[np.float64], boredom: float, sensitivity: float
) -> NDArray[np.float64]:
    """``(NUM_STATES, NUM_ITEMS)`` probability that the user clicks each item in each state.

    The effective interest in the last clicked topic is ``interest * (1 - boredom) **
    streak``, in any other topic the latent interest; an item's appeal is
    ``sensitivity * quality + (1 - sensitivity) * (1 - quality)``.
    """
    topic = np.asarray(catalog.topic)
    quality = np.asarray(catalog.quality)
    appeal = sensitivity * quality + (1.0 - sensitivity) * (1.0 - quality)
    repeated = topic[None, :] == STATE_LAST[:, None]
    fatigue = np.where(repeated, (1.0 - boredom) ** STATE_STREAK[:, None], 1.0)
    return interests[topic][None, :] * fatigue * (APPEAL_FLOOR + (1.0 - APPEAL_FLOOR) * appeal)


def build_model(
    catalog: Catalog, interests: NDArray[np.float64], boredom: float, sensitivity: float
) -> tabular.TabularModel:
    """The session MDP of one user. Outcomes of recommending item ``a`` (topic ``k``,
    quality ``q``) with click probability ``p``: a skip (``1 - p``: satisfaction - 1,
    reward 0), a good click (``p * q``: topic ``k`` streak + 1, satisfaction + 1 up to the
    maximum, reward 1) or a disappointing click (``p * (1 - q)``: the same, satisfaction
    unchanged). A skip at satisfaction 1 ends the session."""
    click = click_probabilities(catalog, interests, boredom, sensitivity)
    topic = np.asarray(catalog.topic)[None, :]
    quality = np.asarray(catalog.quality)[None, :]
    last, streak, satisfaction = STATE_LAST[:, None], STATE_STREAK[:, None], STATE_SATISFACTION
    new_streak = np.where(topic == last, np.minimum(streak + 1, MAX_STREAK), 1)
    lower = np.maximum(satisfaction - 1, 1)[:, None]
    higher = np.minimum(satisfaction + 1, MAX_SATISFACTION)[:, None]
    shape = (NUM_STATES, NUM_ITEMS)
    next_state = np.stack(
        [
            np.broadcast_to(state_index(last, streak, lower), shape),
            state_index(topic, new_streak, higher),
            state_index(topic, new_streak, satisfaction[:, None]),
        ],
        axis=2,
    ).astype(np.int64)
    prob = np.stack([1.0 - click, click * quality, click * (1.0 - quality)], axis=2)
    reward = np.broadcast_to(np.array([0.0, 1.0, 1.0]), (*shape, 3)).copy()
    terminal = np.zeros((*shape, 3), dtype=bool)
    terminal[:, :, 0] = (satisfaction == 1)[:, None]
    return tabular.TabularModel(next_state, prob, reward, terminal, START_STATE)
