"""No import cycles and no arrow back up the layers, counting imports inside functions too."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gankit"


def import_graph() -> dict[str, set[str]]:
    """Module -> the gankit modules it imports anywhere in its source (top level or inside functions)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gankit"):
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    return graph


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for nxt in graph[node] - seen:
            if nxt == goal:
                return True
            seen.add(nxt)
            todo.append(nxt)
    return False


def test_no_import_cycles():
    graph = import_graph()
    cycles = [name for name in graph if reaches(graph, name, name)]
    assert cycles == []


def test_config_knows_no_builder_and_metrics_know_no_family():
    graph = import_graph()
    for low in ["gankit.config", "gankit.metrics.evaluate", "gankit.losses", "gankit.penalties", "gankit.build"]:
        for high in ["gankit.build", "gankit.families", "gankit.train.loop", "gankit.semisup", "gankit.cli"]:
            if low != high:
                assert not reaches(graph, low, high), f"{low} imports {high}"
    for name in graph:
        if name.startswith(("gankit.models", "gankit.metrics", "gankit.data")):
            assert not any(t.startswith("gankit.families") for t in graph[name]), name
