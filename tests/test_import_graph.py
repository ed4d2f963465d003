"""The import graph of gym_metatasks and sb3_metadqn: imports run one way, down.

Every module of both packages is parsed with ``ast``; module-level and function-local
imports count. Imports under ``if TYPE_CHECKING:`` never run: the run-time graph leaves them
out, and a second check counts them too, so that a function-local import cannot hide a cycle
the type checker still sees. Importing ``a.b.c`` also runs the package ``a.b`` (but not the
top-level package, the public facade, nor a package the importer is itself inside).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gym_metatasks", "sb3_metadqn")
Graph = dict[str, set[str]]


def module_names(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted name -> file of every module and package under ``root``'s ``packages``."""
    names = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement asks for (``from a import b``: ``a.b``, which
    resolves to ``a`` when ``b`` is not a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join([*base, *([node.module] if node.module else [])])
    else:
        prefix = node.module or ""
    return [prefix if alias.name == "*" else f"{prefix}.{alias.name}" for alias in node.names]


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, type_checking: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth (with ``type_checking``, those
    under ``if TYPE_CHECKING:`` too)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif _is_type_checking(node) and not type_checking:
            assert isinstance(node, ast.If)
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(
    root: Path, packages: Iterable[str] = PACKAGES, *, type_checking: bool = False
) -> Graph:
    """Module -> the project modules it imports (see the module docstring); with
    ``type_checking``, imports for the type checker count too."""
    modules = module_names(root, packages)
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _imports(tree, type_checking):
            for target in _imported(node, name, is_package):
                parts = target.split(".")
                # the module itself, or the nearest package that holds the imported name
                while parts and ".".join(parts) not in modules:
                    parts.pop()
                if not parts:
                    continue
                found = ".".join(parts)
                graph[name].add(found)
                for depth in range(2, len(parts)):  # parent packages run first
                    parent = ".".join(parts[:depth])
                    if not (name == parent or name.startswith(parent + ".")):
                        graph[name].add(parent)
        graph[name].discard(name)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_project_imports_have_no_cycle() -> None:
    cycle = find_cycle(import_graph(ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_for_the_type_checker_close_no_cycle() -> None:
    """A function-local import that breaks a cycle the type checker still sees (``family``
    -> ``vector`` at run time, ``vector`` -> ``family`` under TYPE_CHECKING) hides a cycle
    instead of removing it."""
    cycle = find_cycle(import_graph(ROOT, type_checking=True))
    assert cycle is None, "import cycle through TYPE_CHECKING imports: " + " -> ".join(cycle or [])


def test_gym_metatasks_never_imports_sb3_metadqn() -> None:
    graph = import_graph(ROOT)
    bad = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.split(".")[0] == "gym_metatasks"
        for target in targets
        if target.split(".")[0] == "sb3_metadqn"
    )
    assert not bad, f"gym_metatasks must not depend on sb3_metadqn: {bad}"


def test_no_module_imports_the_package_root_of_its_own_package() -> None:
    """The root ``__init__`` is the public facade over everything; only the entry point
    (``__main__``) may stand on it."""
    graph = import_graph(ROOT)
    bad = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if target in PACKAGES
        and module.split(".")[0] == target
        and module not in (target, f"{target}.__main__")
    )
    assert not bad, f"modules importing their package root (import the module instead): {bad}"


# ---------------------------------------------------------------------- the checker itself
def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_function_local_import_cycle_is_found_and_named(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "from pkg.high import b\n",
            "pkg/high/__init__.py": "",
            "pkg/high/b.py": "def f():\n    from pkg.low.a import x\n    return x\n",
        },
    )
    cycle = find_cycle(import_graph(tmp_path, ["pkg"]))
    assert cycle == ["pkg.high.b", "pkg.low.a", "pkg.high.b"]


def test_a_cycle_hidden_behind_a_function_local_and_a_type_checking_import_is_found(
    tmp_path: Path,
) -> None:
    """The shape ``gym_metatasks.family.make_vec`` once had."""
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/family.py": "def make_vec():\n    from pkg.vector import make\n    return make\n",
            "pkg/vector.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from pkg.family import Family\n"
            ),
        },
    )
    assert find_cycle(import_graph(tmp_path, ["pkg"])) is None  # run time: no cycle
    cycle = find_cycle(import_graph(tmp_path, ["pkg"], type_checking=True))
    assert cycle == ["pkg.family", "pkg.vector", "pkg.family"]


def test_a_cycle_through_a_subpackage_init_is_found(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/ev/__init__.py": "from pkg.ev.top import run\n",
            "pkg/ev/top.py": "from pkg.core.train import train\n",
            "pkg/ev/low.py": "",
            "pkg/core/__init__.py": "",
            "pkg/core/train.py": "from pkg.ev.low import rollout\n",
        },
    )
    cycle = find_cycle(import_graph(tmp_path, ["pkg"]))
    assert cycle is not None
    assert {"pkg.ev", "pkg.ev.top", "pkg.core.train"} <= set(cycle)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("class A:\n    def f(self):\n        import pkg.b\n", {"pkg.b"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.b\n", set()),
        ("from . import b\n", {"pkg.b"}),
        ("from .b import name\n", {"pkg.b"}),
        ("import pkg.b\n", {"pkg.b"}),
        ("from pkg import name\n", {"pkg"}),
        ("import os\nimport numpy\n", set()),
    ],
)
def test_imports_resolve_to_project_modules(tmp_path: Path, code: str, expected: set[str]) -> None:
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": code, "pkg/b.py": ""})
    assert import_graph(tmp_path, ["pkg"])["pkg.a"] == expected
