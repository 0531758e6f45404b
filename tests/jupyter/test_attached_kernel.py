"""A notebook kernel configured to attach to a running cluster: `%load_ext nbray` with
NBRAY_ADDRESS=auto joins the head started by `nbray start --head` instead of starting a local
cluster; tasks run on the joined node and their output appears under the cell."""

from __future__ import annotations

import os
import subprocess
import sys

from ._kernel_session import start_kernel, stop_kernel


def _cli(env, *args):
    out = subprocess.run([sys.executable, "-m", "nbray", *args], env=env, capture_output=True,
                         text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_load_ext_attaches_to_the_cluster_named_by_the_environment(kernelspec_dir, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))          # a private cluster directory
    env.pop("NBRAY_ADDRESS", None)
    try:
        started = _cli(env, "start", "--head", "--num-cpus", "1")
        address = started.split(" at ", 1)[1].split()[0]
        _cli(env, "start", "--address", address, "--num-cpus", "1", "--resources", '{"w": 1}')
        kernel = start_kernel(kernelspec_dir, tmp_path,
                              {"TMPDIR": str(tmp_path), "NBRAY_ADDRESS": "auto"})
        try:
            kernel.execute("%load_ext nbray")
            nodes = kernel.value("sorted((n['IsHead'], n['IsDriver']) for n in "
                                 "__import__('nbray').nodes() if n['Alive'])")
            assert nodes == [[False, False], [False, True], [True, False]]  # node, us, head
            cell = kernel.execute(
                "import nbray, os\n"
                "@nbray.remote(resources={'w': 1})\n"
                "def where():\n"
                "    print('hello from the node', flush=True)\n"
                "    return os.getppid()\n"
                "nbray.get(where.remote())")
            assert "hello from the node" in cell.stdout, cell.stdout
            assert int(cell.result) != kernel.pid
            remote = kernel.execute("%%remote\nimport numpy as np\nint(np.arange(100).sum())")
            assert remote.result == "4950"
        finally:
            stop_kernel(kernel)
    finally:
        subprocess.run([sys.executable, "-m", "nbray", "stop"], env=env, capture_output=True,
                       timeout=60)
