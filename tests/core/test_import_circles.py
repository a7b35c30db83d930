"""No import circles: every module of nodeflow/ and nodes/ can be read (and loaded) before what imports it."""
from __future__ import annotations

import ast

from tests.conftest import ROOT


def module_imports() -> dict[str, set[str]]:
    """Each module of nodeflow/ and nodes/ -> the modules of ours it imports, function-level imports
    included and imports under `if TYPE_CHECKING:` left out (they never run)."""
    paths = [*ROOT.glob("nodeflow/**/*.py"), *ROOT.glob("nodes/**/*.py")]
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in paths}
    graph = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name in names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] +
                                ([node.module] if node.module else [])) if node.level else node.module
                for alias in node.names:  # `from package import module` imports the module
                    found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base} & set(names)
        graph[name] = found - {name}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, as the shortest path around it (a module, what it imports, …, back to it)."""
    circles: dict[frozenset[str], list[str]] = {}
    for start in sorted(graph):
        path, todo = {start: [start]}, [start]  # breadth first: the shortest way back to `start`
        while todo:
            here = todo.pop(0)
            if start in graph[here]:
                circles.setdefault(frozenset(path[here]), path[here] + [start])
                break
            for there in sorted(graph[here] - set(path)):
                path[there] = path[here] + [there]
                todo.append(there)
    return list(circles.values())


def test_no_module_imports_itself_through_others() -> None:
    graph = module_imports()
    assert graph["nodeflow.cli"] >= {"nodeflow.running", "nodeflow.core"}  # the scan really sees imports
    assert "nodeflow.running" in graph["nodeflow.sweep.runner"]  # function-level ones too
    circles = [" -> ".join(c) for c in import_circles(graph)]
    assert not circles


def test_only_entry_points_import_the_cli() -> None:
    graph = module_imports()
    importers = sorted(name for name, found in graph.items() if "nodeflow.cli" in found)
    assert importers == ["nodeflow.__main__"]
