"""The documentation site: its rollout GIFs, its build hooks, its pages and its strict build."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml
from PIL import Image, ImageSequence

import gym_metatasks
from gym_metatasks.registration import ENTRY_POINTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GIF_LIMIT_BYTES = 300 * 1024


@functools.cache
def docs_module(name: str) -> ModuleType:
    """``docs/<name>.py`` as a module (the docs folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


# ---------------------------------------------------------------------- rollout GIFs
def test_gif_script_writes_the_same_bytes_for_the_same_seed_and_they_are_committed(tmp_path):
    gifs = docs_module("make_gifs")
    first = gifs.main(gifs.Args(env_ids=("MetaNav-v0",), output_dir=tmp_path / "a"))
    second = gifs.main(gifs.Args(env_ids=("MetaNav-v0",), output_dir=tmp_path / "b"))
    assert first[0].read_bytes() == second[0].read_bytes()
    committed = DOCS / "gifs" / "MetaNav-v0.gif"
    assert first[0].read_bytes() == committed.read_bytes(), (
        "docs/gifs/MetaNav-v0.gif is not what `python docs/make_gifs.py` writes: regenerate it"
    )


def test_gif_frames_are_the_envs_rgb_frames_of_the_greedy_episode(tmp_path):
    """A grid family's frames hold few colours, so the GIF keeps them exactly."""
    gifs = docs_module("make_gifs")
    env_id = "MetaFrozenLake-v0"
    (path,) = gifs.main(gifs.Args(env_ids=(env_id,), output_dir=tmp_path, max_frames=1000))
    family = gym_metatasks.family(env_id)
    task_id = family.test_task_ids[0]
    env = family.make(task_id, render_mode="rgb_array")
    renders, _ = gifs.play(env, gifs.metadqn_start(env_id, task_id), seed=0)
    env.close()
    # the GIF writer merges a frame equal to the one before it (the agent bumping a wall)
    changes = [renders[0]] + [b for a, b in itertools.pairwise(renders) if not np.array_equal(a, b)]
    frames = gif_frames(path)
    assert len(frames) == len(changes) > 1
    for frame, render in zip(frames, changes, strict=True):
        np.testing.assert_array_equal(frame, render)


def test_gif_frame_selection_keeps_the_first_and_last_frames():
    gifs = docs_module("make_gifs")
    frames = list(range(501))
    kept, stride = gifs.keep_frames(frames, 60)
    assert len(kept) <= 60
    assert kept[0] == 0
    assert kept[-1] == 500
    assert kept[1] == stride == 9
    assert gifs.keep_frames(frames[:10], 60) == (frames[:10], 1)


def test_text_rollout_of_an_ansi_only_family_states_its_return(tmp_path):
    gifs = docs_module("make_gifs")
    (path,) = gifs.main(gifs.Args(env_ids=("MetaRecommend-v0",), output_dir=tmp_path))
    assert path.suffix == ".txt"
    header, *steps = path.read_text(encoding="utf-8").splitlines()
    clicks = sum("clicked" in step for step in steps)
    assert re.match(rf"MetaRecommend-v0, test task 800: return {clicks} \(normalized ", header)
    assert path.read_bytes() == (DOCS / "gifs" / "MetaRecommend-v0.txt").read_bytes()


def test_every_family_has_a_page_with_its_env_docs_and_a_small_committed_rollout():
    gifs = docs_module("make_gifs")
    assert {type(gym_metatasks.family(env_id)) for env_id in gifs.FAMILY_IDS} == set(ENTRY_POINTS)
    pages = {path.read_text(encoding="utf-8") for path in (DOCS / "families").glob("*.md")}
    for env_id in gifs.FAMILY_IDS:
        env_class = ENTRY_POINTS[type(gym_metatasks.family(env_id))].split(":")[1]
        (page,) = [text for text in pages if f"::: gym_metatasks.{env_class}\n" in text]
        rollout = next((DOCS / "gifs").glob(f"{env_id}.*"))
        assert rollout.name in page
        assert rollout.stat().st_size < GIF_LIMIT_BYTES


# ---------------------------------------------------------------------- build hooks
def test_help_marker_becomes_the_commands_help(capsys):
    hooks = docs_module("hooks")
    page = "Intro\n\n<!-- help: metadqn demo -->\n\n<!-- help: python -m gym_metatasks -->\n"
    rendered = hooks.on_page_markdown(page)
    assert "<!--" not in rendered
    assert "$ metadqn demo --help\nusage: metadqn demo [-h] [--tasks N] [--timesteps N]" in (
        rendered
    )
    assert "usage: python -m gym_metatasks [-h] [--env-id ENV_ID]" in rendered
    assert capsys.readouterr().out == ""  # captured into the page, not printed


def test_help_marker_of_a_benchmark_script_and_of_an_unknown_command():
    hooks = docs_module("hooks")
    text = hooks.help_text("python -m benchmarks.transfer")
    assert text.startswith("usage: python -m benchmarks.transfer [-h] [--env-id ENV_ID]")
    with pytest.raises(ValueError, match="unknown command: 'ls -l'"):
        hooks.help_text("ls -l")


def test_family_table_marker_becomes_the_showcase_table():
    hooks = docs_module("hooks")
    rendered = hooks.on_page_markdown("<!-- family-table -->")
    for env_id in gym_metatasks.families():
        assert re.search(rf"^{env_id} ", rendered, re.M)


def test_linked_benchmark_results_join_the_site_and_a_missing_one_fails(tmp_path, monkeypatch):
    hooks = docs_module("hooks")
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    config = MkDocsConfig()
    config.load_dict({"site_name": "t", "site_dir": str(tmp_path / "site"), "docs_dir": str(DOCS)})
    errors, _ = config.validate()
    assert not errors
    files = hooks.on_files(Files([]), config=config)
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((results/[^)#\s]+)\)", readme))
    assert linked
    assert {f.src_uri for f in files} == {f"benchmarks/{link}" for link in linked}

    broken = tmp_path / "README.md"
    broken.write_text("![a figure](results/missing.png)\n", encoding="utf-8")
    monkeypatch.setattr(hooks, "BENCHMARKS_README", broken)
    with pytest.raises(FileNotFoundError, match=r"links results/missing\.png"):
        hooks.on_files(Files([]), config=config)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":class:`~sb3_metadqn.WarmStartDQN` starts", "`WarmStartDQN` starts"),
        ("see :func:`sb3_metadqn.pretrained.available`", "see `sb3_metadqn.pretrained.available`"),
        (":meth:`make` and :attr:`~TaskFamily.horizon`", "`make` and `horizon`"),
        ("``plain`` code stays", "``plain`` code stays"),
    ],
)
def test_sphinx_roles_become_markdown_code(text, expected):
    assert docs_module("griffe_markdown").convert_roles(text) == expected


def test_doctests_become_pycon_blocks_and_keep_their_roles():
    import griffe

    docstring = "Intro with :class:`~a.B`.\n\n>>> f(1)  # :func:`g`\n2\n\nAfter.\n>>> h()\n3"
    function = griffe.Function("f", docstring=griffe.Docstring(docstring))
    docs_module("griffe_markdown").RestToMarkdown().on_instance(obj=function)
    assert function.docstring is not None
    assert function.docstring.value == (
        "Intro with `B`.\n\n```pycon\n>>> f(1)  # :func:`g`\n2\n```\n\n"
        "After.\n\n```pycon\n>>> h()\n3\n```"
    )


# ---------------------------------------------------------------------- pages
def nav_pages(entries: list) -> set[str]:
    pages: set[str] = set()
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages |= nav_pages(value) if isinstance(value, list) else {value}
    return pages


def test_every_page_is_in_the_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert nav_pages(config["nav"]) == pages


SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>\w+))?"$')


def test_every_snippet_line_names_an_existing_file_and_section():
    """A mangled ``--8<--`` line is not an include and would show as text."""
    lines = [
        line
        for path in DOCS.rglob("*.md")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "8<" in line
    ]
    assert len(lines) > 10
    for line in lines:
        match = SNIPPET.match(line)
        assert match, line
        source = (ROOT / match["path"]).read_text(encoding="utf-8")
        if match["section"]:
            # a section is marked in a comment: "# --8<-- [start:x]" or "<!-- --8<-- ... -->"
            assert f"--8<-- [start:{match['section']}]" in source, line
            assert f"--8<-- [end:{match['section']}]" in source, line


def test_python_blocks_of_the_pages_run():
    """Blocks included from examples/ are run by test_examples.py; the others run here."""
    blocks = [
        block
        for path in sorted(DOCS.rglob("*.md"))
        for block in re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
        if "--8<--" not in block
    ]
    assert blocks
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "docs", "exec"), namespace)
        if "env" in namespace:
            namespace["env"].close()


def test_readme_links_the_documentation_pages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\((docs/[^)#\s]+)\)", readme)
    assert "docs/getting-started.md" in linked
    assert "docs/families/index.md" in linked
    for link in linked:
        assert (ROOT / link).is_file(), link


@pytest.mark.slow
def test_site_builds_in_strict_mode(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    cli_page = (tmp_path / "reference" / "cli.html").read_text(encoding="utf-8")
    assert "usage: metadqn meta-train" in cli_page
    benchmarks = (tmp_path / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert 'src="results/env_throughput.png"' in benchmarks
    assert (tmp_path / "benchmarks" / "results" / "env_throughput.png").is_file()
    tutorial = (tmp_path / "guides" / "custom-family.html").read_text(encoding="utf-8")
    assert "CorridorFamily" in tutorial
    assert "--8&lt;--" not in tutorial
    nav_page = (tmp_path / "families" / "nav.html").read_text(encoding="utf-8")
    assert "Task Descriptor" in nav_page
    assert "<table>" in nav_page
