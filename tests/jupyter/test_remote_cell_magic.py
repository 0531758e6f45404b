"""%%remote through a real kernel: shipped names, ObjectRefs as values, -o, --pull,
--push, --no-block, --timeout, --num-cpus, print/display from the worker, and
remote tracebacks."""

from __future__ import annotations

import re

from ._kernel_session import TIMEOUT, poll_for

PREFIX = re.compile(r"^\(remote-cell pid=(\d+)\) ", re.M)


def test_shipped_names_and_refs_arrive_as_values(nbray_kernel):
    k = nbray_kernel
    k.execute("import numpy as np\ny = 5\nx = nbray.put(np.arange(10))\nconf = {'a': 1}")
    cell = k.execute("%%remote\nimport os\nprint(type(x).__name__, y, os.getpid())\n"
                     "int(x.sum()) + y + conf['a']")
    assert cell.result == "51"
    out = cell.stdout
    match = PREFIX.search(out)
    assert match, out
    assert out[match.end():].split()[:2] == ["ndarray", "5"]
    worker_pid = int(out.split()[-1])
    assert worker_pid == int(match.group(1))
    assert worker_pid != k.pid
    assert worker_pid in {p.pid for p in k.workers()}
    # the notebook's names are untouched by what the remote cell does
    k.execute("%%remote\ny = 1000\nx = None")
    assert k.value("[y, type(x).__name__]") == [5, "ObjectRef"]


def test_output_option_binds_a_ref_and_returns_at_once(nbray_kernel, tmp_path):
    k = nbray_kernel
    go = tmp_path / "go"
    k.execute(f"import numpy as np\nx = nbray.put(np.arange(10))\nGO = {str(go)!r}")
    cell = k.execute("%%remote -o z\nimport os, time\n"
                     "while not os.path.exists(GO):\n    time.sleep(0.01)\n"
                     "int(x.sum()) * 2")
    # the cell finished while its task is still blocked on GO: -o does not wait
    assert cell.result is None and cell.error is None
    assert k.value("[type(z).__name__, len(nbray.wait([z], timeout=0)[0])]") == ["ObjectRef", 0]
    go.touch()
    assert k.value(f"nbray.get(z, timeout={TIMEOUT})") == 90


def test_pull_copies_names_back(nbray_kernel):
    k = nbray_kernel
    k.execute("y = 5")
    cell = k.execute("%%remote --pull w,v\nw = y * 3\nv = [w, 'x']\n'done'")
    assert cell.result == "'done'"
    assert k.value("[w, v]") == [15, [15, "x"]]


def test_pull_of_a_name_the_cell_does_not_define_fails(nbray_kernel):
    cell = nbray_kernel.execute("%%remote --pull nothere\n1", allow_errors=True)
    assert "NameError" in cell.error["ename"]
    assert "nothere" in cell.error["evalue"]


def test_push_ships_names_the_cell_does_not_read_directly(nbray_kernel):
    k = nbray_kernel
    k.execute("secret = 21")
    assert k.execute("%%remote --push secret\nglobals()['secret'] * 2").result == "42"
    missing = k.execute("%%remote --push not_defined_here\n1", allow_errors=True)
    assert missing.error["ename"] == "NameError"
    assert "not_defined_here" in missing.error["evalue"]


def test_no_block_returns_the_ref(nbray_kernel):
    k = nbray_kernel
    cell = k.execute("%%remote --no-block\n3 * 3")
    assert cell.result.startswith("ObjectRef("), cell.result
    assert k.value(f"nbray.get(_, timeout={TIMEOUT})") == 9


def test_timeout_raises_get_timeout_error(nbray_kernel, tmp_path):
    k = nbray_kernel
    go = tmp_path / "go"
    k.execute(f"GO = {str(go)!r}")
    cell = k.execute("%%remote --timeout 0.3\nimport os, time\n"
                     "while not os.path.exists(GO):\n    time.sleep(0.01)\n1",
                     allow_errors=True)
    assert "GetTimeoutError" in cell.error["ename"], cell.error
    go.touch()


def test_num_cpus_reserves_cpus(nbray_kernel):
    k = nbray_kernel
    two = k.execute("%%remote --num-cpus 2\nimport nbray\n"
                    "nbray.get_runtime_context().get_assigned_resources()")
    assert two.result == "{'CPU': 2.0}"
    one = k.execute("%%remote\nimport nbray\nnbray.get_runtime_context().get_assigned_resources()")
    assert one.result == "{'CPU': 1.0}"


def test_display_and_print_land_in_the_cell(nbray_kernel):
    k = nbray_kernel
    cell = k.execute("%%remote\n"
                     "class Shown:\n"
                     "    def _repr_html_(self):\n        return '<b>from a worker</b>'\n"
                     "    def __repr__(self):\n        return 'Shown()'\n"
                     "print('before')\ndisplay(Shown())\nprint('after')\n")
    displays = cell.displays()
    assert len(displays) == 1, cell.messages
    assert displays[0]["data"]["text/html"] == "<b>from a worker</b>"
    assert displays[0]["data"]["text/plain"] == "Shown()"
    assert PREFIX.sub("", cell.stdout).split() == ["before", "after"]
    assert cell.result is None


def test_remote_exception_shows_the_remote_frame_and_type(nbray_kernel):
    k = nbray_kernel
    cell = k.execute("%%remote\ndef inner():\n    raise KeyError('boom')\n\ninner()",
                     allow_errors=True)
    err = cell.error
    assert "KeyError" in err["ename"], err
    assert "boom" in err["evalue"]
    text = cell.traceback_text()
    # named as the notebook names the cell; line numbers count the %%remote line as line 1
    n = cell.reply["content"]["execution_count"]
    assert f'File "In [{n}]", line 5, in <module>' in text, text
    assert f'File "In [{n}]", line 3, in inner' in text, text
    assert "raise KeyError('boom')" in text  # the remote source line is shown
    # the error is also an instance of the original type
    caught = k.execute("%%remote -o failing\nraise ValueError('bad value')")
    assert caught.error is None
    k.execute("try:\n    nbray.get(failing)\nexcept ValueError as e:\n    kind = type(e).__name__\n"
              "    msg = str(e)")
    assert "ValueError" in k.value("kind")
    assert "bad value" in k.value("msg")


def test_syntax_error_is_reported_locally(nbray_kernel):
    cell = nbray_kernel.execute("%%remote\ndef broken(:\n    pass", allow_errors=True)
    assert cell.error["ename"] == "SyntaxError"
    assert "%%remote cell does not parse" in cell.error["evalue"]
    # nothing was submitted: the cluster is idle
    assert nbray_kernel.value("nbray.available_resources()['CPU']") == 2.0


def test_cell_after_remote_work_still_sees_free_cpus(nbray_kernel):
    k = nbray_kernel
    for i in range(3):
        assert k.execute(f"%%remote\n{i} + 1").result == str(i + 1)
    poll_for(lambda: k.value("nbray.available_resources()['CPU']") == 2.0, TIMEOUT,
             "both CPUs free after the remote cells")
