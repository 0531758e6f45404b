"""Every notebook in notebooks/ runs top to bottom on a real Jupyter kernel.

Each notebook is executed with nbclient on the `python3` kernel (ipykernel, this
interpreter), from the notebooks/ folder, as a person would run it in Jupyter.
The test fails on any cell error, checks a few printed values (so it cannot pass
by executing nothing), and checks that the kernel and every nbray worker it
started are gone once the kernel has shut down.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Dict, List

import psutil
import pytest

nbformat = pytest.importorskip("nbformat", reason="install the test extra: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="install the test extra: pip install -e '.[test]'")
pytest.importorskip("ipykernel", reason="install the test extra: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 120          # seconds for one cell
EXIT_TIMEOUT = 30           # seconds for the kernel and its workers to exit after shutdown
WORKER_MODULE = "nbray.runtime.worker"
PREFIX_TAG = "NBRAY_TEST_KERNEL_PREFIX="

# Lines each notebook must print: values worked out by hand, not copied from a run.
EXPECTED_OUTPUT: Dict[str, List[str]] = {
    "05-cluster.ipynb": [
        "sums agree: True",
        "all blocks correct after losing a node: True",
    ],
    "04-jupyter.ipynb": [
        "refs survive the reload: True",       # %reload_ext keeps the cluster and its refs
    ],
    "01-quickstart.ipynb": [
        "same values:     True",
        "writeable: False",
        "two gets share memory: True",
        "writing into it fails:",
        "original still unclipped: True",
        "new object is clipped:    True",
        "8 rows, each of length 4976",         # 5000 - 25 + 1 ("valid" convolution)
        "top-level:   ndarray",
        "in a list:   list of ObjectRef",
        "in a dict:   dict of data: ObjectRef",
        "three refs: ObjectRef ObjectRef ObjectRef",
        "levels: 4",                            # 16 -> 8 -> 4 -> 2 -> 1
        "tree-reduction total: 16000",         # 16 parts x 1000 measurements
        "caught CalibrationError: sensor",
        "also a RayTaskError: True",
        "gave up waiting: GetTimeoutError",
        "initialized: False",
    ],
}


def _stream_text(cell: dict, name: str) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == name)


def _all_text(nb) -> str:
    """Every output as text, one part per output; consecutive stream outputs of one stream are
    joined as a front end shows them (ipykernel may flush one print() in several messages)."""
    parts = []
    for cell in nb.cells:
        last_stream = None
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                if out.get("name") == last_stream:
                    parts[-1] += out.get("text", "")
                else:
                    parts.append(out.get("text", ""))
                last_stream = out.get("name")
                continue
            last_stream = None
            if out.get("output_type") in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:160]}"
    except psutil.Error:
        return f"pid {proc.pid} (gone)"


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path):
    """Notebooks are committed clean, so the repository stays small and diffs stay readable."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name}: cell {i} has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch):
    # Kernels started by this test use Jupyter's current paths (no migration warning).
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.delenv("NBRAY_ADDRESS", raising=False)   # always a local cluster in the kernel
    nb = nbformat.read(str(path), as_version=4)
    # First, a cell of our own: which interpreter the python3 kernel runs.
    nb.cells.insert(0, nbformat.v4.new_code_cell(f"import sys; print({PREFIX_TAG!r} + sys.prefix)"))

    seen: Dict[int, psutil.Process] = {}
    cmdlines: Dict[int, str] = {}

    def record_processes(**_: object) -> None:
        """After each cell: remember the kernel and every process below it (nbray's workers)."""
        try:
            for proc in psutil.Process().children(recursive=True):
                if proc.pid not in seen:
                    seen[proc.pid] = proc
                    cmdlines[proc.pid] = _describe(proc)
        except psutil.Error:
            pass

    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT, allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        on_cell_executed=record_processes)
    try:
        client.execute()   # starts the kernel, runs every cell, shuts the kernel down
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised:\n{err}", pytrace=False)
    except nbclient.exceptions.DeadKernelError as err:
        pytest.fail(f"{path.name}: the kernel died while running it: {err}", pytrace=False)
    finally:
        # Nothing may outlive the kernel: not the kernel, not a worker it started.
        gone, left = psutil.wait_procs([p for p in seen.values() if _alive(p)], timeout=EXIT_TIMEOUT)
        left = [p for p in left if _alive(p)]
        for proc in left:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=5)
    assert not left, ("still running after the kernel shut down (killed now): "
                      + "; ".join(cmdlines.get(p.pid, _describe(p)) for p in left))

    prefix_out = _stream_text(nb.cells[0], "stdout")
    assert PREFIX_TAG in prefix_out, f"the first cell printed nothing: {prefix_out!r}"
    kernel_prefix = prefix_out.split(PREFIX_TAG, 1)[1].strip()
    assert os.path.realpath(kernel_prefix) == os.path.realpath(sys.prefix), (
        f"the python3 kernel runs {kernel_prefix}, not this environment ({sys.prefix}): "
        f"another python3 kernelspec shadows ipykernel's")

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code_cells), "some code cells did not run"
    for i, cell in enumerate(code_cells):
        assert not [o for o in cell.outputs if o.get("output_type") == "error"], f"cell {i} has an error"
        stderr = _stream_text(cell, "stderr")
        assert "Traceback (most recent call last)" not in stderr, f"cell {i} printed a traceback:\n{stderr}"

    workers = [pid for pid, cmd in cmdlines.items() if WORKER_MODULE in cmd]
    # 05-cluster runs its workers under `nbray start` daemons, not under the kernel.
    assert workers or path.name not in EXPECTED_OUTPUT or path.name == "05-cluster.ipynb", (
        "no nbray worker was seen below the kernel: did the notebook run any task?")

    text = _all_text(nb)
    missing = [line for line in EXPECTED_OUTPUT.get(path.name, []) if line not in text]
    assert not missing, f"{path.name} did not print {missing}; it printed:\n{text}"
    if path.name not in EXPECTED_OUTPUT:
        assert text.strip(), f"{path.name} printed nothing at all"
