"""The package's import graph has no loops and no file reaches into another's private names.

Every module under vdgray/ is parsed with `ast` (nothing is imported): each `import x` and
`from x import y`, at module level or inside a function, relative imports resolved, is an
edge to the vdgray module it names. The graph must have no cycle between packages (a node
is `vdgray.<first level>`: vdgray.serve, vdgray.stages, vdgray.config, ...), no cycle
between modules, and no import (or `module._name` use through an imported module) of a
`_private` name defined in another module. Failures name the modules on the loop.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers.paths import ROOT as REPO

ROOT = REPO / "vdgray"


@dataclass
class Graph:
    """Module -> modules it imports, plus the private names it takes from other modules."""

    edges: dict[str, set[str]] = field(default_factory=dict, repr=False)
    private: list[str] = field(default_factory=list, repr=False)


def module_names(root: Path, package: str = "vdgray") -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `root` (a package's __init__ is it)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that `name` is or lies in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _from_base(node: ast.ImportFrom, here: str) -> str:
    """The absolute module of `from <base> import ...`; `here` is the importer's package."""
    if not node.level:
        return node.module or ""
    parts = here.split(".")
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def import_graph(root: Path, package: str = "vdgray") -> Graph:
    modules = module_names(root, package)
    graph = Graph()
    for mod, path in modules.items():
        here = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        imported: list[tuple[str, str]] = []  # (dotted name as written, module it lies in)
        aliases: dict[str, str] = {}  # local name -> the vdgray module it is bound to
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):  # every import, at module level or in a function
            if isinstance(node, ast.Import):
                for a in node.names:
                    imported.append((a.name, _owner(a.name, modules)))
                    if a.asname:
                        aliases[a.asname] = imported[-1][1]
            elif isinstance(node, ast.ImportFrom):
                base = _from_base(node, here)
                for a in node.names:
                    full = f"{base}.{a.name}"
                    imported.append((full, _owner(full, modules)))
                    if full in modules:
                        aliases[a.asname or a.name] = full
        targets = set()
        for name, target in imported:
            if name.split(".")[0] != package or target is None or target == mod:
                continue
            targets.add(target)
            if any(_is_private(part) for part in name.split(".")):
                graph.private.append(f"{mod}: imports {name}")
        for node in ast.walk(tree):  # module._name through an imported module
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and aliases.get(node.value.id, mod) != mod and _is_private(node.attr)):
                graph.private.append(f"{mod}: uses {aliases[node.value.id]}.{node.attr}")
        graph.edges[mod] = targets
    return graph


def package_of(module: str) -> str:
    """`vdgray.<first level>`: the node of the package graph."""
    return ".".join(module.split(".")[:2])


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for src, dsts in edges.items():
        p = package_of(src)
        out.setdefault(p, set())
        for d in dsts:
            if package_of(d) != p:
                out[p].add(package_of(d))
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One loop (a -> ... -> a) per strongly connected component with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return [_loop(comp, edges) for comp in comps]


def _loop(comp: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first node back to itself, inside the component."""
    start, members = comp[0], set(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges.get(v, set()) & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def _describe(loops: list[list[str]]) -> str:
    return "\n".join(" -> ".join(loop) for loop in loops)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(ROOT)


def test_no_cycle_between_packages(graph):
    loops = cycles(package_edges(graph.edges))
    assert not loops, f"import loops between packages:\n{_describe(loops)}"


def test_no_cycle_between_modules(graph):
    loops = cycles(graph.edges)
    assert not loops, f"import loops between modules:\n{_describe(loops)}"


def test_no_private_name_imported_from_another_module(graph):
    assert not graph.private, "private names used across modules:\n" + "\n".join(graph.private)


def test_the_graph_sees_the_package():
    """The walk finds real edges, function-level ones included (so a pass means something)."""
    edges = import_graph(ROOT).edges
    assert len(edges) > 50
    retriever = edges["vdgray.retrieval.retriever"]
    assert "vdgray.retrieval.queries" in retriever  # module level
    assert {"vdgray.index", "vdgray.models.cir"} <= retriever  # inside Retriever.__init__


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_detector_flags_synthetic_loops_and_private_imports(tmp_path):
    root = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/one.py": "from pkg.b.two import thing\n",
        "a/three.py": "def f():\n    from . import one\n    from .one import _hidden\n",
        "b/__init__.py": "",
        "b/two.py": "def g():\n    from ..a import three\n    return three\nthing = 1\n",
        "c.py": "import pkg.a.one as o\nx = o._secret\n",
        "d.py": "from pkg import c\n",
    })
    g = import_graph(root, "pkg")
    assert g.edges["pkg.a.three"] == {"pkg.a.one"}
    assert g.edges["pkg.b.two"] == {"pkg.a.three"}
    assert g.edges["pkg.d"] == {"pkg.c"}
    assert cycles(package_edges(g.edges)) == [["pkg.a", "pkg.b", "pkg.a"]]
    assert cycles(g.edges) == [["pkg.a.one", "pkg.b.two", "pkg.a.three", "pkg.a.one"]]
    assert sorted(g.private) == ["pkg.a.three: imports pkg.a.one._hidden",
                                 "pkg.c: uses pkg.a.one._secret"]
    assert cycles({"x": {"y"}, "y": set()}) == []
