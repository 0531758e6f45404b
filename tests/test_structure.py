"""The package's shape, checked from its source (no process): module length, import cycles
and calls of other objects' private methods.

These are the architecture's promises (docs/architecture.md): one module, one
responsibility; imports point one way; components talk through public methods.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Dict, List, Set

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "nbray"
MAX_LINES = 600


def _modules() -> Dict[str, pathlib.Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        out[name] = path
    return out


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> Set[int]:
    """Ids of the nodes under `if TYPE_CHECKING:` (imports only the type checker runs)."""
    guarded: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return guarded


def _imports(name: str, path: pathlib.Path) -> Set[str]:
    """The nbray modules `name` imports when it runs, at any depth (an import inside a
    function still runs, so it still makes a cycle)."""
    tree = ast.parse(path.read_text())
    guarded = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.add(f"{base}.{alias.name}")
                elif base in MODULES:
                    found.add(base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
    found.discard(name)
    return found


def _cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    groups: List[List[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _private_calls(path: pathlib.Path, root: pathlib.Path = PACKAGE.parent) -> List[str]:
    """Calls `x._name(...)` where x is not self/cls/super() and not a library module
    (`os._exit` is the library's own business, not a reach into another object)."""
    tree = ast.parse(path.read_text())
    library_modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if not a.name.startswith("nbray"):
                    library_modules.add(a.asname or a.name.split(".")[0])
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        attr = node.func.attr
        if not attr.startswith("_") or attr.startswith("__"):
            continue
        target = node.func.value
        if isinstance(target, ast.Name) and target.id in ("self", "cls", *library_modules):
            continue
        if isinstance(target, ast.Call) and isinstance(target.func, ast.Name) \
                and target.func.id == "super":
            continue
        found.append(f"{path.relative_to(root)}:{node.lineno}: "
                     f"{ast.unparse(node.func)}()")
    return found


def test_no_module_is_longer_than_the_limit():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by responsibility): {long}"


def test_no_import_cycles_between_nbray_modules():
    edges = {name: _imports(name, path) for name, path in MODULES.items()}
    cycles = _cycles(edges)
    detail = "\n".join(
        "  " + ", ".join(f"{m} -> {sorted(edges[m] & set(group))}" for m in group)
        for group in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s):\n{detail}"


def test_no_calls_of_other_objects_private_methods():
    calls = [c for path in sorted(MODULES.values()) for c in _private_calls(path)]
    assert not calls, f"{len(calls)} private reach-in(s):\n" + "\n".join(calls)


def _private_imports(name: str, path: pathlib.Path) -> List[str]:
    """`from nbray.x import _y` where `_y` is a private name of another module (not a
    module itself, like `_raylet` or `_version`)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if not base.startswith("nbray"):
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__") \
                    and f"{base}.{alias.name}" not in MODULES:
                found.append(f"{name}: from {base} import {alias.name}")
    return found


def test_no_module_imports_another_modules_private_names():
    found = [f for name, path in sorted(MODULES.items()) for f in _private_imports(name, path)]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The detectors themselves: a reach-in, a library call, and a two-module cycle."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f(self, node):\n    node._dispatch()\n    os._exit(0)\n"
                      "    super()._x()\n    self._y()\n")
    found = _private_calls(sample, root=tmp_path)
    assert len(found) == 1 and found[0].endswith("node._dispatch()")
    probe = tmp_path / "probe.py"
    probe.write_text("from nbray.runtime.worker_process import _hidden, describe_exit\n"
                     "from nbray import _raylet\nfrom os import _exit\n")
    assert _private_imports("nbray.probe", probe) == [
        "nbray.probe: from nbray.runtime.worker_process import _hidden"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_runtime_modules_import_nothing_from_the_facade():
    """The runtime reaches the current driver through its own slot, never through `api`."""
    offenders = {name: sorted(m for m in _imports(name, path) if m == "nbray.api")
                 for name, path in MODULES.items()
                 if name.startswith(("nbray.runtime", "nbray.core", "nbray.store",
                                     "nbray.transport", "nbray.serialization"))}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"runtime modules importing the facade: {offenders}"
