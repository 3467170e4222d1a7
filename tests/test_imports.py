"""No import circle in the package: read with `ast`, every import that runs counts, those inside
functions (kept there to start fast) included. Imports under `if TYPE_CHECKING:` never run and
name types for annotations only, so they are left out."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "scripts" / "sweeplake"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package's own modules that this module's imports name, wherever they stand."""
    found = set()
    for node in runtime_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            # `from pkg import mod` names the module pkg.mod when there is one, else pkg itself
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in modules else base for t in targets]
        else:
            continue
        found |= {target for target in targets if target in modules}
    return found - {name}


def runtime_nodes(tree: ast.AST):
    """Every node of the tree but those in the body of an `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            children = node.orelse
        else:
            children = [node]
        for child in children:
            yield child
            yield from runtime_nodes(child)


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    modules = set(files)
    return {
        name: imported(ast.parse(path.read_text()), name, path.name == "__init__.py", modules)
        for name, path in files.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph(PACKAGE)
    assert "sweeplake.cli" in graph and "sweeplake.engines.duckdb" in graph["sweeplake.rank"]
    assert circles(graph) == []


def test_a_circle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg import c\n")
    (package / "e.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n"
        "else:\n    from pkg import a\n"
    )
    graph = import_graph(package)
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.d"] == {"pkg.c"}
    assert graph["pkg.e"] == {"pkg.a"}  # the TYPE_CHECKING import never runs
    assert circles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_each_engine_takes_the_interface_from_engines_base_not_from_another_engine() -> None:
    graph = import_graph(PACKAGE)
    for engine in ("duckdb", "athena", "scores"):
        assert "sweeplake.engines.base" in graph[f"sweeplake.engines.{engine}"]
    assert "sweeplake.engines.duckdb" not in graph["sweeplake.engines.athena"]
    assert "sweeplake.engines.base" in graph["sweeplake.rank"]


def third_party(root: Path) -> dict[str, set[str]]:
    """By top-level module name outside the standard library and the package: the package's
    modules that import it (at run time, wherever the import stands)."""
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        for node in runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top not in sys.stdlib_module_names and top != root.name:
                    found.setdefault(top, set()).add(module_name(path, root))
    return found


def pinned(requirements: Path) -> set[str]:
    """The distributions a requirements file pins, by canonical name."""
    lines = (line.split("#")[0].strip() for line in requirements.read_text().splitlines())
    return {canonical(line.split("==")[0]) for line in lines if "==" in line}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_module_the_package_imports_is_pinned_where_it_is_needed() -> None:
    """A fresh `make run` installs requirements.txt alone: whatever the package imports outside
    the Spark extra (sweeplake.spark and the family Spark fits, `pip install 'sweeplake[spark]'`)
    must be pinned there; the extra's imports come from pyproject.toml's `spark` list, or what
    those distributions require (py4j comes with pyspark)."""
    runtime = pinned(REPO / "requirements.txt")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extra = {
        canonical(re.split(r"[<>=!~\[ ]", d)[0]) for d in project["optional-dependencies"]["spark"]
    }
    extra |= {canonical(re.split(r"[<>=!~\[ ;]", r)[0]) for d in extra for r in requires(d)}
    providers = importlib.metadata.packages_distributions()
    imports = third_party(PACKAGE)
    missing = []
    for top, importers in sorted(imports.items()):
        needed = {canonical(d) for d in providers.get(top, [top])}
        spark_only = all("spark" in m for m in importers)
        if not needed & (runtime | extra if spark_only else runtime):
            missing.append(f"{top} (imported by {sorted(importers)[:3]})")
    assert imports["duckdb"] and "pyspark" in imports and "py4j" in extra
    assert missing == []


def requires(distribution: str) -> list[str]:
    """What an installed distribution requires, its extras' requirements left out."""
    found = importlib.metadata.requires(distribution) or []
    return [r for r in found if "extra ==" not in r]
