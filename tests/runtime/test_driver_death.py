"""The driver process dies (SIGKILL, exit without shutdown, exception): nothing may outlive it."""

from __future__ import annotations

import json
import signal

import psutil

from tests._support import DEFAULT_TIMEOUT, dev_shm_entries, pid_gone, poll_for, run_driver, start_driver

DRIVER = """
    import json, os, sys, time
    import numpy as np
    import nbray

    nbray.init(num_cpus=2, object_store_memory=256 * 2**20)
    big = nbray.put(np.ones(50 * 2**20 // 8))            # 50 MB in shared memory
    started = sys.argv[1]

    @nbray.remote
    def long_task(path):
        open(path, "w").close()
        time.sleep(600)

    ref = long_task.remote(started)
    node = nbray.runtime.context.current_driver().node
    deadline = time.monotonic() + 60
    while not os.path.exists(started) or len(node.worker_pids()) < 2:
        assert time.monotonic() < deadline, "the task did not start"
        time.sleep(0.01)
    print(json.dumps({"driver": os.getpid(), "workers": node.worker_pids()}), flush=True)
    time.sleep(600)
"""


def _worker_processes_of(pid):
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_sigkill_of_the_driver_takes_every_worker_down(tmp_path):
    shm_before = dev_shm_entries()
    proc = start_driver(DRIVER, [str(tmp_path / "started")])
    try:
        line = proc.stdout.readline()
        assert line, f"the driver died early: {proc.stderr.read()}"
        info = json.loads(line)
        workers = set(info["workers"]) | set(_worker_processes_of(proc.pid))
        assert len(workers) >= 2
        assert all(not pid_gone(p) for p in info["workers"])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=DEFAULT_TIMEOUT)
        assert proc.returncode == -signal.SIGKILL
        poll_for(lambda: all(pid_gone(p) for p in workers), timeout=10,
                 msg="every worker to exit after the driver was killed")
        assert dev_shm_entries() - shm_before == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_driver_that_exits_without_shutdown_leaves_nothing(tmp_path):
    shm_before = dev_shm_entries()
    result = run_driver("""
        import json, os
        import numpy as np
        import nbray

        nbray.init(num_cpus=2, object_store_memory=64 * 2**20)
        ref = nbray.put(np.ones(1_000_000))

        @nbray.remote
        def pid():
            return os.getpid()

        pids = nbray.get([pid.remote() for _ in range(4)])
        print(json.dumps(nbray.runtime.context.current_driver().node.worker_pids()))
    """)
    assert result.returncode == 0, result.stderr
    workers = json.loads(result.stdout.strip().splitlines()[-1])
    assert workers
    poll_for(lambda: all(pid_gone(p) for p in workers), timeout=10,
             msg="every worker to exit with the driver")
    assert dev_shm_entries() - shm_before == set()


def test_driver_that_dies_of_an_exception_leaves_nothing(tmp_path):
    result = run_driver("""
        import json
        import nbray

        nbray.init(num_cpus=2, object_store_memory=64 * 2**20)
        print(json.dumps(nbray.runtime.context.current_driver().node.worker_pids()), flush=True)
        raise SystemExit("driver gives up")
    """)
    assert result.returncode == 1
    assert "driver gives up" in result.stderr
    workers = json.loads(result.stdout.strip().splitlines()[-1])
    poll_for(lambda: all(pid_gone(p) for p in workers), timeout=10,
             msg="every worker to exit with the driver")


def test_sigterm_of_the_driver_takes_every_worker_down(tmp_path):
    proc = start_driver(DRIVER, [str(tmp_path / "started")])
    try:
        info = json.loads(proc.stdout.readline())
        workers = set(info["workers"])
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=DEFAULT_TIMEOUT)
        poll_for(lambda: all(pid_gone(p) for p in workers), timeout=10,
                 msg="every worker to exit after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
