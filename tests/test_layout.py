"""The layout reads as the data's path: no import cycle among the project's modules, and the data layers (sources/,
transforms/, reports/) never reach Prefect — only flows/ composes the steps as Prefect tasks.

Imports are read with `ast`, never executed. Every import statement counts as an edge, at module level or inside a
function (a function-level import is the same dependency, only deferred): `import a.b` and `from a import b` (b a
module) are edges to a.b, `from a.b import name` to a.b. Importing a submodule also runs its package's
__init__.py; that implicit step is not an edge (a package's __init__ importing its own submodules, as
sources/sample/__init__.py does, is not a cycle), only the imports written in the files are.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ess.paths import ROOT

PACKAGES = ("ess", "sources", "transforms", "reports", "flows")
DATA_LAYERS = ("sources", "transforms", "reports")
ORCHESTRATORS = ("prefect", "prefect_dask")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(project modules imported, top-level names of the other modules imported) by one module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    project, others = set(), set()

    def add(target: str) -> None:
        if target in modules:
            project.add(target)
        elif target.split(".")[0] in PACKAGES:
            # `from ess.paths import ROOT` names a module then an attribute: the longest module prefix
            parts = target.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts:
                project.add(".".join(parts))
        else:
            others.add(target.split(".")[0])

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    project.discard(name)
    return project, others


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = project_modules()
    edges, external = {}, {}
    for name, path in modules.items():
        edges[name], external[name] = imports_of(name, path, modules)
    return edges, external


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen


def test_the_import_graph_is_read_from_the_source_files():
    edges, external = graph()
    # a few edges known by heart: module-level, function-level and relative imports are all seen
    assert "ess.settings" in edges["flows.cli"]  # module level
    assert "flows.pipeline" in edges["flows.cli"]  # inside cmd_run
    assert "sources.registry" in edges["transforms.staging"]
    assert "prefect" in external["flows.pipeline"]
    assert "sources.sample.model" in edges["sources.sample.world"]  # `from sources.sample import model as m`


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_project_modules():
    edges, _ = graph()
    assert cycles(edges) == []


def test_no_data_layer_module_reaches_prefect():
    edges, external = graph()
    offenders = {}
    for name in edges:
        if name.split(".")[0] not in DATA_LAYERS:
            continue
        through = sorted(m for m in reachable(name, edges) if external[m] & set(ORCHESTRATORS))
        if through:
            offenders[name] = through
    assert offenders == {}


def test_no_step_is_loaded_by_name():
    """Nobody calls the steps through importlib: who calls them can be read (and grepped)."""
    _, external = graph()
    assert sorted(m for m, names in external.items() if "importlib" in names) == ["ess.caching"]
