"""A Griffe extension: the reST habits of the packages' docstrings, written as Markdown.

The docstrings read well under ``help()``, where ``:class:`~sb3_metadqn.MetaDQN``` names a
class and ``>>>`` starts a doctest; Markdown would show the role's punctuation and read
``>>>`` as nested quotes. Roles become inline code (``~`` keeps the last name only, as in
Sphinx) and each doctest block, up to the next blank line, a ``pycon`` code block.
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


def fence_doctests(text: str) -> str:
    """``text`` with every doctest block (a ``>>>`` line up to the next blank line) fenced."""
    out: list[str] = []
    in_block = False
    for line in text.split("\n"):
        if not in_block and line.lstrip().startswith(">>>"):
            if out and out[-1].strip():
                out.append("")  # a fence starts a block of its own
            out.append("```pycon")
            in_block = True
        elif in_block and not line.strip():
            out.append("```")
            in_block = False
        out.append(line)
    if in_block:
        out.append("```")
    return "\n".join(out)


class RestToMarkdown(griffe.Extension):
    """Rewrites every object's docstring with :func:`fence_doctests` and
    :func:`convert_roles` (roles inside doctests are left alone)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            parts = re.split(
                r"(```pycon\n.*?\n```)", fence_doctests(obj.docstring.value), flags=re.S
            )
            obj.docstring.value = "".join(
                part if part.startswith("```pycon") else convert_roles(part) for part in parts
            )
