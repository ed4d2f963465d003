"""A Griffe extension: Sphinx cross-reference roles in docstrings become Markdown code.

The packages' docstrings read well under ``help()``, where ``:class:`~sb3_metadqn.MetaDQN```
names a class; Markdown would show the role's punctuation. ``~`` keeps the last name only,
as in Sphinx.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")


def as_code(match: re.Match[str]) -> str:
    target = match["target"]
    return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"


def convert_roles(text: str) -> str:
    """``text`` with every Sphinx role written as inline code."""
    return ROLE.sub(as_code, text)


class SphinxRolesAsCode(griffe.Extension):
    """Rewrites every object's docstring with :func:`convert_roles`."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert_roles(obj.docstring.value)
