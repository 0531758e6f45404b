"""A driver attached to a running cluster (`init(address=...)`): calls that stop waiting.

The test process is the head (see conftest.py); the attached driver is a subprocess.
"""

from __future__ import annotations

import textwrap
from tests._support import run_attached


def test_an_attached_driver_get_that_times_out_raises_get_timeout_and_the_value_comes_later(head):
    driver = textwrap.dedent(f"""
        import threading, nbray
        nbray.init(address={head.server.address!r})

        @nbray.remote
        class Gate:
            def __init__(self):
                self.event = threading.Event()
            def wait(self):
                self.event.wait(60)
                return "done"
            def open(self):
                self.event.set()

        g = Gate.options(max_concurrency=2).remote()
        ref = g.wait.remote()
        try:
            nbray.get(ref, timeout=0.2)
        except nbray.exceptions.GetTimeoutError:
            print("timed out")
        nbray.get(g.open.remote())
        print("value", nbray.get(ref, timeout=60))
        nbray.shutdown()
    """)
    out = run_attached(driver, head.server.token)
    assert out.returncode == 0, out.stderr
    assert "timed out" in out.stdout and "value done" in out.stdout, out.stdout
