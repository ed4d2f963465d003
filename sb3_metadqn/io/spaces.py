"""JSON descriptions of Gymnasium spaces, and the check that an artifact fits an env.

:func:`describe_space` is the one description every artifact stores; :func:`same_space`
compares two of them (descriptions written before ``MultiDiscrete`` recorded its ``start``
read it as zeros), and :func:`check_family_and_spaces` refuses an artifact made for another
family or other spaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_metadqn.io.artifacts import ArtifactError


def describe_space(space: spaces.Space[Any]) -> dict[str, Any]:
    """A JSON description of a space, precise enough to compare (``Dict``: each entry's).

    :raises ValueError: for a space other than Discrete, Box, MultiBinary, MultiDiscrete
        or a Dict of them
    """
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": float(np.min(space.low)),
            "high": float(np.max(space.high)),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": np.asarray(space.start).tolist(),
        }
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: describe_space(s) for k, s in space.spaces.items()}}
    raise ValueError(f"unsupported space {space}")


def _normalized(description: Any) -> Any:
    if not isinstance(description, Mapping):
        return description
    kind = description.get("type")
    if kind == "MultiDiscrete" and "start" not in description:
        return {**description, "start": np.zeros_like(description["nvec"]).tolist()}
    if kind == "Dict" and isinstance(description.get("spaces"), Mapping):
        return {
            **description,
            "spaces": {k: _normalized(v) for k, v in description["spaces"].items()},
        }
    return dict(description)


def same_space(a: Any, b: Any) -> bool:
    """Whether two space descriptions describe the same space."""
    return bool(_normalized(a) == _normalized(b))


def space_from_description(description: Mapping[str, Any]) -> spaces.Space[Any]:
    """The space a :func:`describe_space` description describes (Discrete, MultiDiscrete and
    Box only: the spaces of tabular models).

    :raises ValueError: for any other space type
    """
    kind = description.get("type")
    if kind == "Discrete":
        return spaces.Discrete(int(description["n"]), start=int(description["start"]))
    if kind == "MultiDiscrete":
        nvec = np.asarray(description["nvec"], dtype=np.int64)
        start = np.asarray(description.get("start", np.zeros_like(nvec)), dtype=np.int64)
        return spaces.MultiDiscrete(nvec, start=start)
    if kind == "Box":
        return spaces.Box(
            float(description["low"]),
            float(description["high"]),
            shape=tuple(int(n) for n in description["shape"]),
            dtype=np.dtype(description["dtype"]),
        )
    raise ValueError(f"space type {kind!r} is not a tabular observation or action space")


def check_family_and_spaces(
    owner: str,
    family: tuple[str, str],
    env_family_key: str | None,
    space_pairs: list[tuple[str, Any, Any]],
) -> None:
    """Raise :class:`ArtifactError` when an artifact made for one family or set of spaces
    meets an env of another.

    :param owner: the artifact as named in the message, e.g. ``"table bank"``
    :param family: ``(family_key, env_id)`` the artifact was made for
    :param env_family_key: the env's family key (None: unknown, not checked)
    :param space_pairs: ``(name, the artifact's description, the env's description)``
    """
    family_key, env_id = family
    if env_family_key is not None and env_family_key != family_key:
        raise ArtifactError(
            f"the {owner} is for family {family_key} ({env_id}); the env is family {env_family_key}"
        )
    for name, mine, theirs in space_pairs:
        if not same_space(mine, theirs):
            raise ArtifactError(f"the {owner}'s {name} is {mine}; the env's is {theirs}")
