"""Notebook kernels attached to a running two-node cluster (`nbray start --head` plus a
second node): `%load_ext nbray` keeps the attachment, whether NBRAY_ADDRESS names the
cluster or the notebook called nbray.init(address=...) itself; tasks run on the joined
node and their output appears under the cell; the status display says where it is
attached and counts the whole cluster; %reload_ext keeps the attachment and every ref;
the kernel's state socket (what the JupyterLab sidebar reads) answers for the whole
cluster, its object rows named by the kernel (held by, "In [n] line k"), filtered and
sorted by those names; a long get draws its progress bar, and Kernel > Interrupt cancels
every task of the cell at the head."""

from __future__ import annotations

import json
import re
from typing import Dict, Iterator, Tuple

import pytest

from nbray.runtime.state_server import query

from ._cli_cluster import two_node_cluster
from ._kernel_session import TIMEOUT, poll_for, start_kernel, stop_kernel


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, Dict[str, str]]]:
    with two_node_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


def test_load_ext_attaches_to_the_cluster_named_by_the_environment(kernelspec_dir, tmp_path,
                                                                   cluster):
    kernel = start_kernel(kernelspec_dir, tmp_path,
                          {"TMPDIR": cluster[1]["TMPDIR"], "NBRAY_ADDRESS": "auto"})
    try:
        loaded = kernel.execute("%load_ext nbray")
        assert f"(attached to {cluster[0]})" in loaded.displays()[0]["data"]["text/plain"]
        nodes = kernel.value("sorted((n['IsHead'], n['IsDriver']) for n in "
                             "nbray.nodes() if n['Alive'])")
        assert nodes == [[False, False], [False, True], [True, False]]  # node, us, head
        cell = kernel.execute(
            "import os\n"
            "@nbray.remote(resources={'w': 1})\n"
            "def where():\n"
            "    print('hello from the node', flush=True)\n"
            "    return os.getppid()\n"
            "nbray.get(where.remote())")
        assert "hello from the node" in cell.stdout, cell.stdout
        assert int(cell.result) != kernel.pid
        remote = kernel.execute("%%remote\nimport numpy as np\nint(np.arange(100).sum())")
        assert remote.result == "4950"
        # an attachment %load_ext made is closed at the end of the %unload_ext cell; the
        # cluster runs on
        assert kernel.value("[nbray.is_initialized(), len(nbray.nodes())]") == [True, 3]
        kernel.execute("%unload_ext nbray")
        assert kernel.value("nbray.is_initialized()") is False
    finally:
        stop_kernel(kernel)


def test_attached_kernel_keeps_its_cluster_and_refs_and_shows_all_of_it(kernelspec_dir,
                                                                        tmp_path, cluster):
    address, env = cluster
    kernel = start_kernel(kernelspec_dir, tmp_path, {"TMPDIR": env["TMPDIR"]})
    try:
        kernel.execute(f"import nbray as ray\nctx = ray.init(address={address!r})\n"
                       "import numpy as np\n"
                       "@ray.remote(resources={'w': 1})\n"
                       "def on_node(n):\n"
                       "    return np.ones(n, dtype=np.uint8)\n"
                       "keep_me = ray.put(np.arange(1000))\n"
                       "far = on_node.remote(300_000)\n"
                       "ray.wait([far])")
        loaded = kernel.execute("%load_ext nbray")
        assert loaded.error is None
        text = loaded.displays()[0]["data"]["text/plain"]
        html = loaded.displays()[0]["data"]["text/html"]
        # the whole cluster: head and node (not this kernel's own store), one worker each
        assert f"(attached to {address})" in text, text
        assert ": 2 node(s), 2 CPUs" in text and "2 workers" in text, text
        assert f"Attached to <code>{address}</code>" in html
        # `nbray` is bound by %load_ext; the user's `ray` is left as it was
        assert kernel.value("[nbray is ray, ray.__name__]") == [True, "nbray"]
        # the state socket of this kernel (the sidebar's source) answers from the head
        socks = kernel.value("__import__('nbray.runtime.state_server', fromlist=['_'])"
                             ".live_sessions()")
        mine = [s for s in socks if s.endswith(f"/{kernel.pid}.sock")]
        assert len(mine) == 1, socks
        stats = query(mine[0], "node_stats")
        tasks = [r for r in stats if r["alive"] and not r["is_driver"]]
        assert len(tasks) == 2 and sum(r["is_head"] for r in tasks) == 1, stats
        assert sum(r["is_driver"] for r in stats if r["alive"]) == 1
        summary = query(mine[0], "summary")
        assert summary["attached_to"] == address
        # one truth: the display's counts are the sums of the sidebar's node rows
        alive = [r for r in stats if r["alive"]]
        assert summary["nodes"] == 2 and summary["workers"] == sum(r["workers"] for r in alive)
        assert summary["store_capacity"] == sum(r["store_capacity"] for r in alive)
        listed = query(mine[0], "memory", limit=None)
        ids = kernel.value("[keep_me.hex(), far.hex()]")
        assert set(ids) <= {o["object_id"] for o in listed["objects"]}, listed["objects"]
        # %reload_ext: the same attachment, every ref still valid, no new driver
        driver_id = kernel.value("ray.get_runtime_context().get_node_id()")
        reloaded = kernel.execute("%reload_ext nbray")
        assert reloaded.error is None
        assert f"(attached to {address})" in reloaded.displays()[0]["data"]["text/plain"]
        kernel.execute("after = [int(ray.get(keep_me).sum()), int(ray.get(far).sum())]")
        assert kernel.value("after") == [499500, 300_000]
        assert kernel.value("ray.get_runtime_context().get_node_id()") == driver_id
        assert kernel.value("sum(1 for n in ray.nodes() if n['Alive'])") == 3
        # tasks' output still comes under the cell that started them
        said = kernel.execute("@ray.remote\ndef say():\n    print('said after reload', "
                              "flush=True)\nray.get(say.remote())")
        assert "said after reload" in said.stdout, said.stdout
        cell = _check_the_kernels_names_on_the_heads_rows(kernel, mine[0])
        # the inspector shows the same: every node of the cluster and the kernel's objects,
        # named by this kernel
        shown = json.dumps(kernel.execute("insp = nbray.inspect(refresh_s=3600)\ninsp")
                           .comm_models())
        assert all(r["node_id"] in shown for r in alive), shown[:2000]
        assert all(oid in shown for oid in ids), shown[:2000]
        assert "keep_me" in shown and "objs[2]" in shown and f"In [{cell}] line 2" in shown
        kernel.execute("insp.close()")
        _check_an_interrupted_cell(kernel, mine[0], tmp_path)
        # unloading never ends an attachment the notebook made itself
        kernel.execute("%unload_ext nbray")
        assert kernel.value("[ray.is_initialized(), int(ray.get(keep_me).sum())]") == [True, 499500]
        assert query(mine[0], "summary")["attached_to"] == address
    finally:
        stop_kernel(kernel)


def _check_the_kernels_names_on_the_heads_rows(kernel, sock):
    """The rows come from the head, which cannot see the kernel's variables: the kernel
    names them (held_by, "In [n] line k"), and filters and sorts by those names work, in
    nbray.memory() and on the state socket the sidebar reads.  Returns the cell's number."""
    made = kernel.execute("alpha = ray.put('a')\nobjs = [ray.put(i) for i in range(3)]")
    n = made.reply["content"]["execution_count"]
    ids = kernel.value("{'alpha': alpha.hex(), 'objs': [r.hex() for r in objs], "
                       "'keep_me': keep_me.hex(), 'far': far.hex()}")
    for listed in (kernel.value("nbray.memory(limit=None).to_dict()"),
                   query(sock, "memory", limit=None)):
        rows = {o["object_id"]: o for o in listed["objects"]}
        assert (rows[ids["alpha"]]["held_by"], rows[ids["alpha"]]["call_site"]) == \
            (["alpha"], f"In [{n}] line 1"), rows[ids["alpha"]]
        assert [rows[i]["held_by"] for i in ids["objs"]] == [["objs[0]"], ["objs[1]"], ["objs[2]"]]
        assert rows[ids["objs"][2]]["call_site"] == f"In [{n}] line 2"
        assert rows[ids["keep_me"]]["held_by"] == ["keep_me"]
        assert "/ipykernel_" not in json.dumps(listed["objects"])  # no raw cell file names
    # filter by a variable name (the head cannot evaluate it: the kernel sends the ids)
    by_name = query(sock, "memory", filter="objs", limit=None)
    assert sorted(o["object_id"] for o in by_name["objects"]) == sorted(ids["objs"])
    assert by_name["total"] == 3
    assert kernel.value("[o['object_id'] for o in nbray.memory(filter='alph').objects]") == \
        [ids["alpha"]]
    # sort by holder, both ways, a page at a time
    first = query(sock, "memory", sort_by="held_by", descending=False, limit=4)
    assert [o["held_by"] for o in first["objects"]] == [["alpha"], ["far"], ["keep_me"],
                                                         ["objs[0]"]], first["objects"]
    second = query(sock, "memory", sort_by="held_by", descending=False, offset=4, limit=2)
    assert [o["held_by"] for o in second["objects"]] == [["objs[1]"], ["objs[2]"]]
    last = query(sock, "memory", sort_by="held_by", descending=True, limit=2)
    assert [o["held_by"] for o in last["objects"]] == [["objs[2]"], ["objs[1]"]]
    text = kernel.execute("%nbray memory --filter alpha").stdout
    assert "alpha" in text and f"In [{n}] line 1" in text, text
    return n


HOLD = """
import os, time

@ray.remote
def hold(name):
    open(os.path.join(FLAGS, 'started-' + name), 'w').close()
    while not os.path.exists(os.path.join(FLAGS, 'release')):
        time.sleep(0.01)
    return name

@ray.remote
def quick(i):
    return i
"""


def _check_an_interrupted_cell(kernel, sock, flags):
    """Kernel > Interrupt during a long get in the attached kernel: the progress bar is
    drawn and ends saying what happened, and every task of the cell (awaited or not) is
    cancelled at the head."""
    kernel.execute(f"FLAGS = {str(flags)!r}\n{HOLD}")
    msg_id = kernel.submit("background = hold.remote('bg')\n"
                           "refs = [quick.remote(i) for i in range(2)] + "
                           "[hold.remote(f'a{i}') for i in range(4)]\n"
                           "ray.get(refs)")
    # one CPU holds the background task, the other ran both quick tasks and holds a0
    poll_for(lambda: {"started-bg", "started-a0"} <= {p.name for p in flags.iterdir()},
             TIMEOUT, "the background task and the first awaited one to run")
    kernel.wait_for_message(
        lambda m: (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "comm_msg"
                   and "get 6 objects: 2/6" in str(m["content"]["data"].get("state", {})
                                                    .get("value", ""))),
        TIMEOUT, "the progress bar of the attached get to count the quick tasks")
    kernel.km.interrupt_kernel()
    cell = kernel.wait_idle(msg_id, allow_errors=True)
    assert cell.error["ename"] == "KeyboardInterrupt", cell.error
    models = cell.comm_models()
    bar = next(m for m in models.values() if m.get("_model_name") == "IntProgressModel")
    label = next(m for m in models.values() if m.get("_model_name") == "HTMLModel")
    text = re.sub(r"<[^>]+>", "", label["value"])
    assert (bar["bar_style"], bar["description"]) == ("warning", "interrupted"), bar
    assert re.fullmatch(r"get 6 objects: interrupted after \d+\.\d s: 2 of 6 done, "
                        r"4 cancelled", text), text
    # the head's task list: nothing of the cell is left (the background task too)
    poll_for(lambda: not [t for t in query(sock, "tasks") if "hold" in t["name"]], TIMEOUT,
             "the interrupted cell's tasks to leave the head")
    kernel.execute(
        "kinds = []\nfor r in [background] + refs[2:]:\n    try:\n"
        "        ray.get(r, timeout=30)\n        kinds.append('finished')\n"
        "    except ray.exceptions.TaskCancelledError:\n        kinds.append('cancelled')")
    assert kernel.value("[kinds, ray.get(refs[:2])]") == [["cancelled"] * 5, [0, 1]]
