"""A headless run (nbclient, as `jupyter nbconvert --execute`, papermill and myst-nb run
notebooks) keeps every line a task printed before its cell ended in that cell: the
runner stops listening to a cell at its execute reply, so nothing may arrive late or go
to the next cell.  A print flood's dropped lines are reported in the cell too."""

from __future__ import annotations

import os
import re
from typing import Dict

import nbformat
import psutil
import pytest

from ._kernel_session import TIMEOUT, alive, wait_gone

nbclient = pytest.importorskip("nbclient")

LINES = 3          # lines each task prints
TASKS = 40         # tasks per cell
FLOOD = 3000       # lines of one task: more than a burst, so some are dropped

CELLS = [
    "import nbray\nnbray.init(num_cpus=2)\n%load_ext nbray",
    # each task prints its lines just before it returns
    "@nbray.remote\ndef p(cell, i):\n    for j in range(%d):\n"
    "        print(f'cell{cell} task{i} line{j}')\n    return i\n" % LINES,
    f"_ = nbray.get([p.remote(3, i) for i in range({TASKS})])",
    f"refs = [p.remote(4, i) for i in range({TASKS})]\n_ = nbray.wait(refs, num_returns={TASKS})",
    # not awaited by a blocking call: the node's I/O thread delivers these
    f"refs = [p.remote(5, i) for i in range({TASKS})]\n"
    f"while len(nbray.wait(refs, num_returns={TASKS}, timeout=0)[0]) < {TASKS}:\n    pass",
    "@nbray.remote\ndef flood(n):\n    for i in range(n):\n        print(f'flood line {i}')\n"
    f"    return n\n_ = nbray.get(flood.remote({FLOOD}))",
    "print('last cell')",
]
TASK_LINE = re.compile(r"\(p pid=\d+\) cell(\d+) task(\d+) line(\d+)$")
DROP_NOTE = re.compile(r"\[nbray\] (\d+) lines of worker output were dropped")


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def test_every_line_printed_before_its_cell_ended_is_in_that_cell(kernelspec_dir, tmp_path):
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    ksm = KernelSpecManager(kernel_dirs=[str(kernelspec_dir)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="nbray-test", kernel_spec_manager=ksm,
                       connection_file=str(tmp_path / "kernel-connection.json"))
    seen: Dict[int, psutil.Process] = {}

    def record_processes(**_: object) -> None:
        if km.has_kernel:
            for proc in [psutil.Process(km.provisioner.pid)] + \
                    psutil.Process(km.provisioner.pid).children(recursive=True):
                seen.setdefault(proc.pid, proc)

    env = dict(os.environ, IPYTHONDIR=str(tmp_path / ".ipython"))
    env.pop("NBRAY_ADDRESS", None)
    client = nbclient.NotebookClient(nb, km=km, timeout=int(TIMEOUT * 4), allow_errors=False,
                                     resources={"metadata": {"path": str(tmp_path)}},
                                     on_cell_executed=record_processes)
    try:
        client.execute(env=env)
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:   # a kernel manager passed in is the caller's to shut down
            km.shutdown_kernel()
        km.cleanup_resources()
        wait_gone([p for p in seen.values() if alive(p)], TIMEOUT,
                  "the kernel and its workers to exit after the run")

    wrong = []
    for number, cell in enumerate(nb.cells, 1):
        found = [TASK_LINE.match(ln) for ln in _stdout(cell).splitlines()]
        mine = sorted((int(m.group(2)), int(m.group(3))) for m in found
                      if m and int(m.group(1)) == number)
        wrong += [f"cell {m.group(1)}'s line in cell {number}" for m in found
                  if m and int(m.group(1)) != number]
        if number in (3, 4, 5):
            assert mine == [(i, j) for i in range(TASKS) for j in range(LINES)], (
                f"cell {number}: {len(mine)} of {TASKS * LINES} lines")
    assert not wrong, wrong

    flood = _stdout(nb.cells[5]).splitlines()
    shown = sum(1 for ln in flood if re.match(r"\(flood pid=\d+\) flood line \d+$", ln))
    dropped = sum(int(m.group(1)) for m in map(DROP_NOTE.search, flood) if m)
    assert dropped, "the flood dropped nothing: the test does not reach the rate limit"
    assert shown + dropped == FLOOD, (shown, dropped)
    assert _stdout(nb.cells[6]) == "last cell\n"
