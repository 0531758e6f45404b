"""An attached driver's side of the wire protocol: the table it dispatches its node's
messages through (replies to its requests, and the output of the tasks it started).

The test process is the head (see conftest.py); the driver is a process of its own.
"""

from __future__ import annotations

import textwrap
from tests._support import run_attached


def test_an_attached_drivers_handlers_take_their_records_fields(head):
    driver = textwrap.dedent(f"""
        import os
        from nbray.runtime.attach import AttachedDriver
        from nbray.transport.dispatch import check_handlers

        attached = AttachedDriver({head.server.address!r}, os.environ["NBRAY_TOKEN"])
        try:
            table = attached.node_handlers()
            check_handlers(table)
            print("handled", sorted(record.__name__ for record in table))
        finally:
            attached.close()
    """)
    out = run_attached(driver, head.server.token)
    assert out.returncode == 0, out.stderr
    assert "handled ['Output', 'Reply']" in out.stdout, out.stdout
