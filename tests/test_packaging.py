"""The distribution's optional dependencies: one pygame, the one Gymnasium renders with."""

import re
from importlib import metadata
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parent.parent
PYGAMES = {"pygame", "pygame-ce"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _extra_requirements(extra: str) -> set[str]:
    """Names of the packages ``pip install ".[extra]"`` asks for, self-references resolved."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    names: set[str] = set()
    pending, seen = [extra], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in extras[current]:
            if _name(requirement) == project["name"]:
                inner = re.search(r"\[(.*)\]", requirement)
                assert inner, f"{requirement!r} names this distribution without extras"
                pending.extend(e.strip() for e in inner.group(1).split(","))
            else:
                names.add(_name(requirement))
    return names


def _gymnasium_classic_control_pygame() -> set[str]:
    requires = metadata.requires("gymnasium") or []
    return {_name(r) for r in requires if 'extra == "classic-control"' in r and _name(r) in PYGAMES}


@pytest.mark.parametrize("extra", ["test", "human"])
def test_extras_install_one_pygame_the_one_gymnasium_renders_with(extra):
    gymnasium_pygame = _gymnasium_classic_control_pygame()
    assert len(gymnasium_pygame) == 1
    assert _extra_requirements(extra) & PYGAMES == gymnasium_pygame


def test_the_classic_control_extra_asks_for_a_gymnasium_on_pygame_ce():
    """Gymnasium's classic-control extra moved from pygame to pygame-ce in 1.3."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (requirement,) = project["optional-dependencies"]["classic-control"]
    lower = re.search(r">=\s*([0-9.]+)", requirement)
    assert lower, requirement
    assert tuple(int(p) for p in lower.group(1).split(".")) >= (1, 3)
