"""Errors of tasks defined in notebook cells name the cell ("In [n]") and show its source
line, in a real kernel, on a local cluster and on one the kernel attached to: functions,
nested functions, helpers from another cell, lambdas, actor methods, nested tasks, a task
re-run after its worker crashed, code defined before `%load_ext nbray`, `%%remote` cells.
The driver's side shows none of nbray's frames."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from types import TracebackType
from typing import Optional

import pytest

from nbray.jupyter.tracebacks import cut_hidden_frames

from ._kernel_session import start_kernel, stop_kernel

# A traceback line of a frame in nbray's own code, or a cell named by its temporary file.
NBRAY_FRAME = re.compile(r"File [^\n]*[/\\]nbray[/\\]")
UNNAMED = re.compile(r"<dynamic-code>|ipykernel_\d+|<remote cell>")

BEFORE_LOAD = """\
@nbray.remote
def early(x):
    return 1 / x
r0 = early.remote(0)
"""

CELLS = {
    "helper": "def helper(d):\n    return d['missing']\n",
    "tasks": (
        "@nbray.remote\n"
        "def nested(x):\n"
        "    def inner():\n"
        "        return helper({})\n"
        "    return inner()\n"
        "\n"
        "@nbray.remote\n"
        "def leaf():\n"
        "    raise ValueError('leaf failed')\n"
        "\n"
        "@nbray.remote\n"
        "def outer():\n"
        "    return nbray.get(leaf.remote())\n"
        "\n"
        "@nbray.remote\n"
        "class Counter:\n"
        "    def bump(self):\n"
        "        raise RuntimeError('actor method failed')\n"
        "\n"
        "@nbray.remote(max_retries=1)\n"
        "def crashy(flag):\n"
        "    import os\n"
        "    if not os.path.exists(flag):\n"
        "        open(flag, 'w').close()\n"
        "        os._exit(1)\n"
        "    raise KeyError('second run failed')\n"
        "lam = nbray.remote(lambda x: x.no_such_attribute)\n"),
}


def _start_head(env):
    out = subprocess.run([sys.executable, "-m", "nbray", "start", "--head", "--num-cpus", "2"],
                         env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("where", ["local", "attached"])
def test_task_errors_name_the_cell_and_show_its_line(kernelspec_dir, tmp_path, where):
    env = dict(os.environ, TMPDIR=str(tmp_path))   # a private cluster directory
    env.pop("NBRAY_ADDRESS", None)
    extra = {"TMPDIR": str(tmp_path)}
    if where == "attached":
        _start_head(env)
        extra["NBRAY_ADDRESS"] = "auto"
    try:
        k = start_kernel(kernelspec_dir, tmp_path, extra)
        try:
            _check_cell_tracebacks(k, where, tmp_path)
        finally:
            stop_kernel(k)
    finally:
        if where == "attached":
            subprocess.run([sys.executable, "-m", "nbray", "stop"], env=env,
                           capture_output=True, timeout=60)


def _n(cell):
    return cell.reply["content"]["execution_count"]


def _failed(k, code):
    cell = k.execute(code, allow_errors=True)
    assert cell.error is not None, f"{code!r} did not fail"
    text = cell.traceback_text()
    assert not UNNAMED.search(text), text
    assert not NBRAY_FRAME.search(text), text   # no frame of the driver's nbray code
    return text


def _check_cell_tracebacks(k, where, tmp_path):
    k.execute("import nbray" + ("\nnbray.init(num_cpus=2)" if where == "local" else ""))
    early = _n(k.execute(BEFORE_LOAD))           # pickled before the cells had names
    k.execute("%load_ext nbray")
    if where == "attached":
        assert k.value("nbray.is_initialized() and any(n['IsDriver'] for n in nbray.nodes())")
    text = _failed(k, "nbray.get(r0)")
    assert f'File "In [{early}]", line 3, in early' in text and "return 1 / x" in text, text

    helper = _n(k.execute(CELLS["helper"]))
    tasks = _n(k.execute(CELLS["tasks"]))
    text = _failed(k, "nbray.get(nested.remote(1))")
    assert f'File "In [{tasks}]", line 5, in nested' in text, text
    assert f'File "In [{tasks}]", line 4, in inner' in text, text
    assert f'File "In [{helper}]", line 2, in helper' in text and "return d['missing']" in text

    text = _failed(k, "nbray.get(outer.remote())")       # a task's task: both named
    assert f'File "In [{tasks}]", line 13, in outer' in text, text
    assert f'File "In [{tasks}]", line 9, in leaf' in text, text
    assert "raise ValueError('leaf failed')" in text

    text = _failed(k, "c = Counter.remote()\nnbray.get(c.bump.remote())")
    assert f'File "In [{tasks}]", line 18, in bump' in text, text
    assert "raise RuntimeError('actor method failed')" in text

    flag = str(tmp_path / "crashed-once")
    text = _failed(k, f"nbray.get(crashy.remote({flag!r}))")   # re-run on a new worker
    assert f'File "In [{tasks}]", line 26, in crashy' in text, text
    assert os.path.exists(flag)

    text = _failed(k, "nbray.get(lam.remote(1))")
    assert f'File "In [{tasks}]", line 27, in <lambda>' in text, text
    assert "lam = nbray.remote(lambda x: x.no_such_attribute)" in text

    cell = k.execute("%%remote\nx = 1\n\nraise KeyError('remote cell failed')", allow_errors=True)
    text = cell.traceback_text()
    assert f'File "In [{_n(cell)}]", line 4, in <module>' in text, text
    assert "raise KeyError('remote cell failed')" in text
    assert not UNNAMED.search(text) and not NBRAY_FRAME.search(text), text


def _raise_through(depth: int, hide: bool) -> None:
    __tracebackhide__ = hide
    if depth == 0:
        raise KeyboardInterrupt
    _raise_through(depth - 1, True)


def test_cut_hidden_frames_keeps_the_user_frames_only():
    def user() -> None:
        _raise_through(3, True)

    def bottom() -> None:   # hides itself, as IPython's run_code does ("__ipython_bottom__")
        __tracebackhide__ = "__ipython_bottom__"
        user()

    def caught(fn) -> Optional[TracebackType]:
        try:
            fn()
        except KeyboardInterrupt as e:
            return e.__traceback__.tb_next   # from fn's frame on
        return None

    def names(tb: Optional[TracebackType]):
        out = []
        while tb is not None:
            out.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        return out

    tb = caught(user)
    assert names(tb) == ["user"] + ["_raise_through"] * 4
    assert names(cut_hidden_frames(tb)) == ["user"]
    tb = caught(bottom)
    assert names(tb) == ["bottom", "user"] + ["_raise_through"] * 4
    assert names(cut_hidden_frames(tb)) == ["bottom", "user"]
    tb = caught(user).tb_next   # only hidden frames: nothing to keep, left as it is
    assert names(cut_hidden_frames(tb)) == ["_raise_through"] * 4
    assert cut_hidden_frames(None) is None
