"""Import hygiene: the runtime imports without Jupyter, and importing starts nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nbray
from tests._support import driver_env

JUPYTER_MODULES = ("IPython", "ipywidgets", "ipykernel", "jupyter_server", "jupyter_client")
RUNTIME_PACKAGES = ("nbray", "nbray.api", "nbray.exceptions", "nbray.config", "nbray.ids",
                    "nbray.core.object_table", "nbray.core.specs", "nbray.serialization",
                    "nbray.store.allocator", "nbray.store.shm", "nbray.store.layout",
                    "nbray.runtime.node", "nbray.runtime.worker", "nbray.runtime.client",
                    "nbray.runtime.object_ref", "nbray.runtime.remote_function")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=driver_env(), timeout=60)


def test_runtime_imports_no_jupyter_module():
    result = _run(f"""
        import importlib, sys
        for name in {RUNTIME_PACKAGES!r}:
            importlib.import_module(name)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {JUPYTER_MODULES!r})
        print(loaded)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _imports_of(path: Path):
    """(module, level) of every import statement in a source file."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            if node.level and not node.module:  # from . import x
                for alias in node.names:
                    yield alias.name, node.level
            else:
                yield node.module or "", node.level


def test_core_imports_only_the_standard_library_and_base_modules():
    if not hasattr(sys, "stdlib_module_names"):  # Python < 3.10
        pytest.skip("needs sys.stdlib_module_names")
    core = Path(nbray.__file__).parent / "core"
    allowed_base = {"exceptions", "config", "ids", "_repr"}
    bad = []
    for path in sorted(core.glob("*.py")):
        for module, level in _imports_of(path):
            top = module.split(".")[0]
            if level == 0:
                ok = top in sys.stdlib_module_names or top == "__future__"
            elif level == 1:
                ok = True  # another core module
            else:
                ok = level == 2 and top in allowed_base
            if not ok:
                bad.append(f"{path.name}: {'.' * level}{module}")
    assert bad == []


def test_importing_nbray_starts_no_thread_and_no_process():
    result = _run("""
        import threading, psutil
        import nbray
        print(threading.active_count(), len(psutil.Process().children()), nbray.is_initialized())
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0", "False"]


def test_public_names_resolve():
    for name in nbray.__all__:
        assert hasattr(nbray, name), name


def test_ray_core_api_is_exported():
    for name in ("init", "shutdown", "is_initialized", "put", "get", "wait", "cancel", "remote",
                 "nodes", "cluster_resources", "available_resources", "get_runtime_context",
                 "kill", "get_actor", "method", "ObjectRef", "exceptions"):
        assert name in nbray.__all__, name


def test_exceptions_module_exports_only_exception_classes():
    for name in nbray.exceptions.__all__:
        obj = getattr(nbray.exceptions, name)
        assert isinstance(obj, type) and issubclass(obj, BaseException), name


def _nbray_imports(path: Path):
    """The nbray modules (dotted, relative imports resolved) a source file imports."""
    package = path.relative_to(Path(nbray.__file__).parent.parent).with_suffix("").parts[:-1]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "nbray":
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "nbray":
                continue
            if node.module is None or module == "nbray":  # from . import x / from nbray import x
                for alias in node.names:
                    yield f"{module}.{alias.name}"
            else:
                yield module


def test_notebook_layer_reaches_the_runtime_only_through_its_interface():
    # The facade (Ray's API), the notebook port (events, cancel), which backend it is
    # (nbray.backends: nbray's runtime or Ray) and HTML formatting; the
    # Jupyter *server* extension runs in the server process and reads kernels' state
    # sockets and the dashboard's JSON routes.
    allowed = {"nbray.api", "nbray.backends", "nbray.runtime.notebook_port", "nbray._repr"}
    server_side = {"nbray.runtime.state_server", "nbray.dashboard.routes"}
    jupyter = Path(nbray.__file__).parent / "jupyter"
    bad = []
    for path in sorted(jupyter.glob("*.py")):
        for module in _nbray_imports(path):
            if module.startswith("nbray.jupyter.") or module in allowed:
                continue
            if path.name == "server_ext.py" and module in server_side:
                continue
            bad.append(f"{path.name}: {module}")
    assert bad == []


def test_the_runtime_never_imports_the_facade():
    root = Path(nbray.__file__).parent
    facade = {"nbray", "nbray.api", "nbray.lifecycle", "nbray.object_api", "nbray.cluster_info",
              "nbray.jupyter"}
    runtime = [p for p in sorted((root / "runtime").glob("*.py")) if p.name != "head_main.py"]
    runtime += [root / "runtime_context.py", root / "_raylet.py", root / "actor.py"]
    bad = [f"{p.name}: {m}" for p in runtime for m in _nbray_imports(p)
           if m in facade or m.startswith("nbray.jupyter.")]
    assert bad == []
