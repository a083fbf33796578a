"""The layout's promises, checked on the source: no import cycles (function-level imports
included), trainers and reports that know no concrete environment, and no code outside an
approval's own module that branches on approval kind or environment names."""

from __future__ import annotations

import ast
from pathlib import Path

from monarl.approval import APPROVALS
from monarl.envs import ENVS

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "monarl"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every monarl module ``name`` imports, at any depth of its code."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # Tarjan's strongly connected components, iteratively
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    assert cycles == []


GENERIC = ("monarl.core", "monarl.tabular", "monarl.algos.exact", "monarl.algos.ppo",
           "monarl.algos.check", "monarl.algos.batching", "monarl.algos.networks",
           "monarl.experiments", "monarl.reports", "monarl.cli", "monarl.runtime")
"""Packages that must work on any environment: they may not import a concrete one (the loan
trainer and the loan task's fact overseer are written for that environment, and say so in
their specs' ``envs``)."""


def test_generic_code_imports_no_concrete_environment():
    modules = _modules()
    concrete = [n for n in modules if n.startswith("monarl.envs.") and n.count(".") >= 2
                and n.split(".")[2] in {"camera_dropbox", "loan"}]
    offenders = {}
    for name, path in modules.items():
        if name.startswith(GENERIC):
            bad = sorted(t for t in _imports(name, path, modules)
                         if any(t == c or t.startswith(c + ".") for c in concrete))
            if bad:
                offenders[name] = bad
    assert offenders == {}


def _literals(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_literals(e) for e in node.elts)) if node.elts else set()
    return set()


def test_only_an_approval_s_own_module_branches_on_its_name():
    """Comparisons (``==``, ``in``, ...) against a registered approval kind or environment
    name, or dicts keyed by several of them, outside the module that declares it."""
    names = {n for n in APPROVALS.names() if n != "none"} | set(ENVS.names())
    own = {}
    for name in names:
        registry = APPROVALS if name in APPROVALS.names() else ENVS
        own[name] = registry._builtin[name].split(":")[0]
    hits = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                found = set().union(*(_literals(s) for s in (node.left, *node.comparators)))
            elif isinstance(node, ast.Dict):
                keys = [_literals(k) for k in node.keys if k is not None]
                found = set().union(*keys) if keys else set()
                found = found if len(found & names) >= 2 else set()
            else:
                continue
            for kind in sorted(found & names):
                if not (module == own[kind] or module.startswith(own[kind] + ".")):
                    hits.append(f"{module}:{node.lineno} {kind}")
    assert hits == []
