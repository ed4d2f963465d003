"""MkDocs hooks: pages show what the code prints, and the benchmark figures join the site.

- ``<!-- help: COMMAND -->`` on a line of its own becomes ``COMMAND --help`` as the parser
  prints it; COMMAND is ``metadqn [SUBCOMMAND]``, ``python -m gym_metatasks`` or
  ``python -m benchmarks.NAME``.
- ``<!-- family-table -->`` becomes the table ``python -m gym_metatasks`` prints.
- Every file under ``benchmarks/results/`` that ``benchmarks/README.md`` links is added to the
  site at the same path, so the README's links resolve on the benchmarks page, which
  includes the README.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

import gym_metatasks.__main__ as showcase
from sb3_metadqn import cli

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_README = ROOT / "benchmarks" / "README.md"
HELP_WIDTH = "88"
BENCHMARK_MODULE = re.compile(r"benchmarks\.\w+")
HELP_MARKER = re.compile(r"^<!-- help: (?P<command>[\w .-]+?) -->$", re.M)
FAMILY_TABLE_MARKER = "<!-- family-table -->"
LINKED_RESULT = re.compile(r"\]\((results/[^)#\s]+)\)")


def entry_point(command: str) -> tuple[Callable[..., Any], list[str]]:
    """The function that parses ``command``'s arguments, and the arguments of the command."""
    words = command.split()
    if words[0] == "metadqn":
        return cli.main, words[1:]
    if words[:3] == ["python", "-m", "gym_metatasks"]:
        return showcase.main, words[3:]
    if words[:2] == ["python", "-m"] and len(words) > 2 and BENCHMARK_MODULE.fullmatch(words[2]):
        if str(ROOT) not in sys.path:  # as `python -m` run from the checkout finds them
            sys.path.insert(0, str(ROOT))
        return importlib.import_module(words[2]).parse_args, words[3:]
    raise ValueError(
        f"help marker names an unknown command: {command!r}; known: metadqn, "
        "python -m gym_metatasks, python -m benchmarks.NAME"
    )


def help_text(command: str) -> str:
    """What ``COMMAND --help`` prints, at a fixed width and without colour."""
    main, arguments = entry_point(command)
    out = io.StringIO()
    saved = {name: os.environ.get(name) for name in ("COLUMNS", "NO_COLOR")}
    os.environ.update(COLUMNS=HELP_WIDTH, NO_COLOR="1")
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([*arguments, "--help"])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    text = out.getvalue().rstrip()
    if not text:
        raise ValueError(f"{command} --help printed nothing")
    return text


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        command = match["command"]
        return f"```text\n$ {command} --help\n{help_text(command)}\n```"

    markdown = HELP_MARKER.sub(replace, markdown)
    if FAMILY_TABLE_MARKER in markdown:
        table = f"```text\n$ python -m gym_metatasks\n{showcase.family_table()}\n```"
        markdown = markdown.replace(FAMILY_TABLE_MARKER, table)
    return markdown


def on_files(files: Files, *, config: Any) -> Files:
    text = BENCHMARKS_README.read_text(encoding="utf-8")
    for relative in sorted(set(LINKED_RESULT.findall(text))):
        source = BENCHMARKS_README.parent / relative
        if not source.is_file():
            raise FileNotFoundError(f"benchmarks/README.md links {relative}, which is missing")
        path = source.relative_to(ROOT).as_posix()  # benchmarks/results/...
        files.append(File(path, str(ROOT), config.site_dir, config.use_directory_urls))
    return files
