"""The import rules of docs/architecture.md, read from the code with :mod:`ast`.

Layers point one way: a module may import its own layer's modules and those of lower
layers, never a higher layer's; the packages of one layer that are marked independent
(the feed and the install side) never import each other; the engine never imports Qt,
the publisher or the GUI; and no two modules import each other, directly or around a
circle. Every import counts: at the top of a module, inside a function, or under
``TYPE_CHECKING``.

The checker is tried on small made-up trees first, so that a broken checker cannot pass
the real tree by finding nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Top to bottom. Each layer is a tuple of module prefixes; the longest prefix that
#: matches a module decides its layer. ``independent`` layers' prefixes may not import
#: each other.
LAYERS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("entry points", ("gui", "updater.cli", "updater.publish.cli"), False),
    ("demo", ("updater.demo",), False),
    ("facade", ("updater.service",), False),
    ("operations", ("updater.operations",), False),
    ("support", ("updater.support",), False),
    ("publisher", ("updater.publish",), False),
    ("stages", ("updater.feed", "updater.install"), True),
    ("machine", ("updater.machine",), False),
    ("foundation", ("updater.fsutil", "updater.locations", "updater.names"), False),
    ("platform", ("updater.platform",), False),
    ("core", ("updater.errors", "updater.i18n", "updater.observer", "updater"), False),
)

#: (importer prefixes, imported prefixes, why): imports that are wrong whatever the layers
#: say. External packages count here too.
FORBIDDEN: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("updater",), ("PySide6", "shiboken6", "gui"), "the engine never imports Qt or the GUI"),
    (
        (
            "updater.service",
            "updater.operations",
            "updater.support",
            "updater.feed",
            "updater.install",
            "updater.machine",
        ),
        ("updater.publish",),
        "the client never imports the publisher's tool",
    ),
    (
        ("updater.machine", "updater.install"),
        ("requests", "urllib3", "tuf"),
        "the machine's state and the install side know nothing of the network",
    ),
)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.imported}"


def module_names(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[Import]:
    """Every import in the module ``name``: of our modules resolved to the module (a
    package's ``__init__`` when a name is imported from it), of others as written."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                for alias in node.names
            ]
        for target in targets:
            while target not in known and "." in target and target.split(".")[0] in _ours(known):
                target = target.rpartition(".")[0]  # "updater.platform.current" -> the package
            if target != name:
                yield Import(name, target, node.lineno)


def _ours(known: Mapping[str, Path]) -> set[str]:
    return {name.split(".")[0] for name in known}


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str, layers: Sequence[tuple[str, tuple[str, ...], bool]]) -> tuple[int, str]:
    """(index of the layer, the prefix that placed it) for the longest matching prefix."""
    best: tuple[int, str] | None = None
    for index, (_label, prefixes, _independent) in enumerate(layers):
        for prefix in prefixes:
            if _matches(module, prefix) and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def layer_violations(
    graph: Iterable[Import],
    known: Mapping[str, Path],
    layers: Sequence[tuple[str, tuple[str, ...], bool]] = LAYERS,
) -> list[str]:
    found = []
    for edge in graph:
        if edge.imported not in known:
            continue
        (low, low_prefix) = layer_of(edge.importer, layers)
        (high, high_prefix) = layer_of(edge.imported, layers)
        if high < low:
            found.append(f"{edge}: '{layers[low][0]}' may not import '{layers[high][0]}'")
        elif high == low and layers[low][2] and low_prefix != high_prefix:
            found.append(f"{edge}: {low_prefix} and {high_prefix} are independent")
    return found


def forbidden_imports(
    graph: Iterable[Import],
    rules: Sequence[tuple[tuple[str, ...], tuple[str, ...], str]] = FORBIDDEN,
) -> list[str]:
    found = []
    for edge in graph:
        for importers, imported, why in rules:
            if any(_matches(edge.importer, p) for p in importers) and any(
                _matches(edge.imported, p) for p in imported
            ):
                found.append(f"{edge}: {why}")
    return found


def circles(graph: Iterable[Import], known: Mapping[str, Path]) -> list[list[str]]:
    """The import circles (strongly connected components of two or more modules, each
    shown as one closed path), found with Tarjan's algorithm."""
    edges: dict[str, set[str]] = {name: set() for name in known}
    for edge in graph:
        if edge.imported in known:
            edges[edge.importer].add(edge.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(_closed_path(sorted(component), edges))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def _closed_path(component: list[str], edges: Mapping[str, set[str]]) -> list[str]:
    """One circle through the component's first module, for the message."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    node = start
    while True:
        nxt = sorted(edges[node] & members)
        back = [n for n in nxt if n == start]
        if back and len(path) > 1:
            return [*path, start]
        fresh = [n for n in nxt if n not in seen]
        if not fresh:
            return [*path, back[0] if back else nxt[0]]
        node = fresh[0]
        seen.add(node)
        path.append(node)


def check_tree(root: Path, packages: Sequence[str], layers: Sequence = LAYERS) -> list[str]:
    known = module_names(root, packages)
    graph = [edge for name, path in known.items() for edge in imports_of(name, path, known)]
    problems = layer_violations(graph, known, layers) + forbidden_imports(graph)
    problems += ["import circle: " + " -> ".join(circle) for circle in circles(graph, known)]
    return problems


# --- the checker on made-up trees -----------------------------------------------------------

TOY_LAYERS = (
    ("top", ("toy.top",), False),
    ("middle", ("toy.left", "toy.right"), True),
    ("bottom", ("toy.base", "toy"), False),
)


def _toy(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for name, text in {"toy/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_the_checker_passes_a_tree_that_keeps_the_rules(tmp_path: Path) -> None:
    root = _toy(
        tmp_path,
        {
            "toy/base.py": "import os\n",
            "toy/left/__init__.py": "",
            "toy/left/a.py": "from toy import base\nfrom toy.left import b\n",
            "toy/left/b.py": "from toy.base import thing\n",
            "toy/right.py": "from . import base\n",
            "toy/top.py": "from toy.left.a import x\nfrom toy import right\n",
        },
    )
    assert check_tree(root, ["toy"], TOY_LAYERS) == []


def test_the_checker_finds_a_circle_even_under_type_checking_or_in_a_function(
    tmp_path: Path,
) -> None:
    root = _toy(
        tmp_path,
        {
            "toy/left/__init__.py": "",
            "toy/left/a.py": "from toy.left.b import B\n",
            "toy/left/b.py": "def f():\n    from toy.left import c\n",
            "toy/left/c.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from toy.left.a import A\n",
        },
    )
    assert check_tree(root, ["toy"], TOY_LAYERS) == [
        "import circle: toy.left.a -> toy.left.b -> toy.left.c -> toy.left.a"
    ]


def test_the_checker_finds_an_upward_import_and_a_sibling_import(tmp_path: Path) -> None:
    root = _toy(
        tmp_path,
        {
            "toy/base.py": "from .top import run\n",
            "toy/top.py": "",
            "toy/left.py": "import toy.right\n",
            "toy/right.py": "",
        },
    )
    assert check_tree(root, ["toy"], TOY_LAYERS) == [
        "toy.base (line 1) imports toy.top: 'bottom' may not import 'top'",
        "toy.left (line 1) imports toy.right: toy.left and toy.right are independent",
    ]


def test_the_checker_finds_a_forbidden_import(tmp_path: Path) -> None:
    root = _toy(tmp_path, {"toy/base.py": "from PySide6 import QtCore\n"})
    rules = ((("toy",), ("PySide6",), "no Qt here"),)
    known = module_names(root, ["toy"])
    graph = [e for n, p in known.items() for e in imports_of(n, p, known)]
    assert forbidden_imports(graph, rules) == ["toy.base (line 1) imports PySide6: no Qt here"]


# --- the real tree --------------------------------------------------------------------------


def test_every_layer_of_the_architecture_names_code_that_exists() -> None:
    known = module_names(ROOT, ["updater", "gui"])
    for label, prefixes, _independent in LAYERS:
        for prefix in prefixes:
            assert any(_matches(name, prefix) for name in known), (label, prefix)


def test_the_updater_keeps_its_layers_and_has_no_import_circle() -> None:
    problems = check_tree(ROOT, ["updater", "gui"])
    assert problems == [], "\n".join(problems)


def test_no_module_of_the_updater_is_over_800_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((ROOT / "updater").rglob("*.py"))
    }
    assert {path: lines for path, lines in sizes.items() if lines > 800} == {}
