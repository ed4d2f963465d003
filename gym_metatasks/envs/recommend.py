"""MetaRecommend: cold-start recommendation sessions, one user per task."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks import tabular
from gym_metatasks.envs import recommend_model as rm
from gym_metatasks.family import Registration, shared_family
from gym_metatasks.meta_env import DEFAULT_TASK_ID, MetaTaskEnv
from gym_metatasks.tabular_family import TabularFamily
from gym_metatasks.task_rng import TaskRng
from gym_metatasks.validation import check_real, check_render_mode

HORIZON = 40
FAVOURITE_INTEREST = (0.7, 1.0)
OTHER_INTEREST = (0.1, 0.6)
BOREDOM = (0.0, 0.5)
#: Standard deviation of the noise on every side-information feature.
SIDE_NOISE = 0.15
#: The user's side information: each feature is ``0.5 + sum_j w_j * (z_j - 0.5) + noise``
#: clipped to ``[0, 1]``, over the latent ``z = (interests..., quality_sensitivity,
#: boredom)``; the weights ``w`` of each feature, in that order.
SIDE_FEATURES: dict[str, tuple[float, ...]] = {
    "age": (0.8, 0.0, -0.6, 0.0, 0.0, 0.0),
    "evening_use": (-0.3, 0.3, 0.0, 0.8, 0.0, 0.0),
    "mobile_share": (0.0, 0.4, 0.6, -0.3, 0.0, 0.0),
    "signup_referral": (-0.4, 0.7, 0.0, 0.0, 0.0, 0.0),
    "region_urban": (0.0, 0.0, 0.4, 0.4, 0.0, 0.5),
    "premium_plan": (0.0, 0.0, 0.0, 0.0, 0.7, 0.0),
}


@dataclass(frozen=True)
class RecommendTask:
    """One user of MetaRecommend.

    :param interests: latent interest in each topic (``news, sports, music, film``), each
        in ``[0, 1]``: the click probability scale of the topic's items
    :param boredom: in ``[0, 1]``; after ``n`` clicks in a row on a topic, interest in it is
        multiplied by ``(1 - boredom) ** n``
    :param quality_sensitivity: in ``[0, 1]``; an item's appeal is ``quality_sensitivity *
        quality + (1 - quality_sensitivity) * (1 - quality)``
    :param side_info: what the recommender knows of the user, one value in ``[0, 1]`` per
        feature of :data:`SIDE_FEATURES`: the task descriptor
    """

    interests: tuple[float, ...]
    boredom: float
    quality_sensitivity: float
    side_info: tuple[float, ...]


def _check_reals(name: str, value: Any, length: int) -> tuple[float, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of {length} reals in [0, 1], got {value!r}")
    if len(value) != length:
        raise ValueError(f"{name} must have {length} values, got {len(value)}: {value!r}")
    return tuple(check_real(f"{name}[{i}]", v, 0.0, 1.0) for i, v in enumerate(value))


def _normal(rng: TaskRng) -> float:
    """A standard-normal-like draw: the sum of 12 uniforms minus 6 (mean 0, variance 1)."""
    return sum(rng.uniform() for _ in range(12)) - 6.0


class RecommendFamily(TabularFamily[RecommendTask]):
    """The MetaRecommend task family (see :class:`MetaRecommendEnv`)."""

    name = "MetaRecommend"
    version = 0
    task_class = RecommendTask
    num_tasks = 1000
    num_train_range = 800
    registrations = (Registration("MetaRecommend-v0"),)

    def default_horizon(self) -> int:
        return HORIZON

    @functools.cached_property
    def catalog(self) -> rm.Catalog:
        """The item catalog (topic and quality of each item), fixed for the version."""
        return rm.make_catalog(self.key)

    @property
    def num_states(self) -> int:
        return rm.NUM_STATES

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return tuple(SIDE_FEATURES)

    @property
    def observation_space(self) -> spaces.Discrete:
        """The session state index, ``Discrete(75)``."""
        return spaces.Discrete(rm.NUM_STATES)

    def observation(self, state: int) -> int:
        return int(state)

    def decode_state(self, state: int) -> tuple[int, int, int]:
        """``(last_topic, streak, satisfaction)`` of an observation (``last_topic == 4``:
        nothing clicked yet)."""
        return rm.decode_state(state)

    # ------------------------------------------------------------------ hooks
    def _generate(self, rng: TaskRng) -> RecommendTask:
        favourite = rng.below(rm.NUM_TOPICS)
        interests = tuple(
            round(rng.uniform(*(FAVOURITE_INTEREST if k == favourite else OTHER_INTEREST)), 3)
            for k in range(rm.NUM_TOPICS)
        )
        sensitivity = round(rng.uniform(), 3)
        boredom = round(rng.uniform(*BOREDOM), 3)
        latent = (*interests, sensitivity, boredom)
        side = []
        for weights in SIDE_FEATURES.values():
            mixed = 0.5 + sum(w * (z - 0.5) for w, z in zip(weights, latent, strict=True))
            side.append(round(min(max(mixed + SIDE_NOISE * _normal(rng), 0.0), 1.0), 3))
        return RecommendTask(interests, boredom, sensitivity, tuple(side))

    def _validate(self, task: RecommendTask) -> RecommendTask:
        return RecommendTask(
            interests=_check_reals("task.interests", task.interests, rm.NUM_TOPICS),
            boredom=check_real("task.boredom", task.boredom, 0.0, 1.0),
            quality_sensitivity=check_real(
                "task.quality_sensitivity", task.quality_sensitivity, 0.0, 1.0
            ),
            side_info=_check_reals("task.side_info", task.side_info, len(SIDE_FEATURES)),
        )

    def _descriptor(self, task: RecommendTask) -> NDArray[np.float32]:
        return np.asarray(task.side_info, dtype=np.float32)

    def _build_model(self, task: RecommendTask) -> tabular.TabularModel:
        return rm.build_model(
            self.catalog,
            np.asarray(task.interests, dtype=np.float64),
            task.boredom,
            task.quality_sensitivity,
        )

    def click_probabilities(self, task: Any) -> NDArray[np.float64]:
        """``(num_states, num_items)`` click probability of each item in each state."""
        _, params = self.resolve(task)
        return rm.click_probabilities(
            self.catalog,
            np.asarray(params.interests, dtype=np.float64),
            params.boredom,
            params.quality_sensitivity,
        )


class MetaRecommendEnv(MetaTaskEnv):
    """
    ## Description
    A recommendation session with a new user. At each step the recommender shows one item of
    a fixed catalog; the user clicks it or skips it. Users (tasks) differ in their latent
    interest in each of 4 topics (one favourite), how fast they tire of a topic shown again
    and again, and whether they are drawn to quality or to clickbait. The recommender sees
    only the session so far and the user's side information (the task descriptor, noisy and
    partial): two users with near-equal side information can want different things.

    The catalog (``family.catalog``) holds 8 items, two per topic (``news, sports, music,
    film``): item ``2k`` of topic ``k`` with quality in ``[0.65, 0.95]``, item ``2k + 1``
    with quality in ``[0.15, 0.45]``. An item's click probability is ``interest * (0.7 + 0.3
    * appeal)`` with ``appeal = quality_sensitivity * quality + (1 - quality_sensitivity) *
    (1 - quality)``; interest in the topic of the last clicks is ``interest * (1 - boredom)
    ** streak`` (it recovers when another topic is clicked). A click raises satisfaction by
    1 (up to 5) with probability ``quality`` and leaves it unchanged otherwise; a skip
    lowers it by 1. So clickbait earns clicks now and good items keep the session going.

    ## Action Space
    ``Discrete(8)``: the item to recommend.

    ## Observation Space
    | Space | Content |
    |-------|---------|
    | ``Discrete(75)`` | the session state ``(last_topic * 3 + streak - 1) * 5 + satisfaction - 1`` |

    ``last_topic`` is the topic of the last clicked item (4 before the first click),
    ``streak`` in ``1..3`` the clicks in a row on it (capped), ``satisfaction`` in ``1..5``
    (``family.decode_state(obs)`` splits it).

    ## Rewards
    ``1`` per click, ``0`` per skip.

    ## Starting State
    No click yet, satisfaction 3; resets draw no randomness.

    ## Episode End
    - Termination: a skip at satisfaction 1 (the user leaves).
    - Truncation: the registered time limit (40 recommendations).

    ## Information
    Every ``reset`` and ``step`` returns these keys:

    - ``task_id``: id of the active task, ``None`` for explicit parameters
    - ``task_descriptor``: float32 array (a new copy each call), shape ``(6,)``, see below
    - ``is_success``: ``True`` on a step whose recommendation was clicked

    ## Arguments
    ```python
    import gymnasium as gym
    import gym_metatasks
    env = gym.make("MetaRecommend-v0", task_id=3, render_mode="ansi")
    ```

    | Parameter | Type | Default | Description |
    |-----------|------|---------|-------------|
    | ``task_id`` | ``int`` | ``0`` | task (user) of the family, in ``[0, 1000)`` |
    | ``task`` | ``RecommendTask`` or ``dict`` | ``None`` | explicit parameters instead of ``task_id`` (or a ``gym_metatasks.Task``, which keeps its id) |
    | ``render_mode`` | ``str`` | ``None`` | ``"ansi"`` |

    ## Task Descriptor
    ``D = 6`` side-information values in ``[0, 1]``, the task's ``side_info``. Each is
    ``0.5 + w . (z - 0.5) + 0.15 * noise`` clipped to ``[0, 1]`` (3 decimals), over the
    latent ``z = (interest_news, interest_sports, interest_music, interest_film,
    quality_sensitivity, boredom)``:

    | Index | Name | Weights ``w`` |
    |-------|------|---------------|
    | 0 | ``age`` | news 0.8, music -0.6 |
    | 1 | ``evening_use`` | news -0.3, sports 0.3, film 0.8 |
    | 2 | ``mobile_share`` | sports 0.4, music 0.6, film -0.3 |
    | 3 | ``signup_referral`` | news -0.4, sports 0.7 |
    | 4 | ``region_urban`` | music 0.4, film 0.4, boredom 0.5 |
    | 5 | ``premium_plan`` | quality_sensitivity 0.7 |

    Task generation: a favourite topic uniformly, its interest ``~ U[0.7, 1.0]``, every
    other topic's ``~ U[0.1, 0.6]``; ``quality_sensitivity ~ U[0, 1]``; ``boredom ~ U[0,
    0.5]`` (3 decimals); noise: the sum of 12 uniform draws minus 6. 1000 tasks: ids
    ``[0, 800)`` form the train range, whose last 10% is the validation split and the rest
    the train split, and ``[800, 1000)`` the test split, minus duplicates by descriptor.
    The oracle is exact (dynamic programming on the 75-state model the env steps through).

    ## Registered Configurations
    - ``MetaRecommend-v0``: 40 steps

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}  # type: ignore[misc]
    family: RecommendFamily

    def __init__(
        self,
        task_id: Any = DEFAULT_TASK_ID,
        task: RecommendTask | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.action_space = spaces.Discrete(rm.NUM_ITEMS)
        self.observation_space = spaces.Discrete(rm.NUM_STATES)
        self._state = rm.START_STATE
        self._last: tuple[int, bool] | None = None
        self._init_task(shared_family(RecommendFamily), task_id, task)

    def _apply_task(self, params: Any) -> None:
        model = self.family.model(params)
        cumulative = np.cumsum(model.prob, axis=2)
        cumulative[:, :, -1] = math.inf  # guard against rounding
        self._table = [
            [
                (
                    float(cumulative[s, a, 0]),
                    float(cumulative[s, a, 1]),
                    tuple(int(x) for x in model.next_state[s, a]),
                    tuple(bool(x) for x in model.terminal[s, a]),
                )
                for a in range(model.num_actions)
            ]
            for s in range(model.num_states)
        ]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._switch_task_for_reset(options)
        self._state = rm.START_STATE
        self._last = None
        return self._state, self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            a = operator.index(action)
        except TypeError:
            a = -1
        if not 0 <= a < rm.NUM_ITEMS:
            raise ValueError(f"action must be an int in [0, {rm.NUM_ITEMS}), got {action!r}")
        skip_below, good_below, next_states, terminals = self._table[self._state][a]
        u = self.np_random.random()
        k = 0 if u < skip_below else (1 if u < good_below else 2)
        self._state = next_states[k]
        clicked = k > 0
        self._last = (a, clicked)
        return self._state, 1.0 if clicked else 0.0, terminals[k], False, self._info(clicked)

    def render(self) -> Any:
        if self.render_mode is None:
            return None
        last, streak, satisfaction = rm.decode_state(self._state)
        topic = "none" if last == rm.NUM_TOPICS else f"{rm.TOPICS[last]} x{streak}"
        shown = ""
        if self._last is not None:
            item, clicked = self._last
            name = rm.TOPICS[self.family.catalog.topic[item]]
            shown = f"item {item} ({name}) {'clicked' if clicked else 'skipped'}; "
        return f"{shown}satisfaction {satisfaction}/{rm.MAX_SATISFACTION}, last topic {topic}\n"
