"""The layers only point down (docs/architecture.md), checked on the source itself.

``api/`` (talks to clients) and ``tasks/`` (thin Celery adapters) sit on ``workers/`` (stages
and engines), which sits on ``gpu_scheduler/`` and the shared core ``avatar/``. The entry
points (``cli/``, ``bench/``, ``migrations/``, ``scripts/``) may import anything.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("avatar", "api", "tasks", "workers", "gpu_scheduler", "capacity", "models", "cli", "bench")
ENTRY_POINTS = ("cli", "bench")
# Who may import whom (besides itself). The core imports nothing of the project's.
ALLOWED: dict[str, set[str]] = {
    "avatar": set(),
    "gpu_scheduler": {"avatar"},
    "workers": {"avatar", "gpu_scheduler"},
    "tasks": {"avatar", "gpu_scheduler", "workers"},
    "api": {"avatar", "gpu_scheduler"},
    "capacity": {"avatar", "gpu_scheduler"},
    "models": {"avatar"},
}
MAX_FUNCTION_IMPORTS = 8


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported project module
    line: int
    in_function: bool
    commented: bool  # a comment on the same line or the line before says why


def _modules() -> dict[str, Path]:
    found = {"celeryconfig": REPO / "celeryconfig.py"}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden |= {id(sub) for stmt in node.body for sub in ast.walk(stmt)}
    return hidden


def _imports() -> list[Import]:
    modules = _modules()
    found: list[Import] = []
    for module, path in modules.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        in_function = {id(sub) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                       for sub in ast.walk(node) if sub is not node}
        hidden = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in node.names] or [base]
                names = [n for n in names if _resolve(n, modules)] or [base]
            else:
                continue
            text = lines[node.lineno - 1] + (lines[node.lineno - 2] if node.lineno > 1 else "")
            for target in {t for t in (_resolve(n, modules) for n in names) if t and t != module}:
                found.append(Import(module, target, node.lineno, id(node) in in_function, "#" in text))
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def test_layers_only_point_down() -> None:
    wrong = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in _imports()
        if _top(i.source) in ALLOWED and _top(i.target) != _top(i.source)
        and _top(i.target) not in ALLOWED[_top(i.source)]
    ]
    assert wrong == []


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for i in _imports():
        graph[i.source].add(i.target)
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_few_imports_inside_functions_and_each_says_why() -> None:
    inner = [i for i in _imports() if i.in_function and _top(i.source) not in ENTRY_POINTS]
    unexplained = [f"{i.source}:{i.line} imports {i.target}" for i in inner if not i.commented]
    assert unexplained == []
    assert len({(i.source, i.line) for i in inner}) <= MAX_FUNCTION_IMPORTS, inner
