"""An attached driver's side of the wire protocol: the table it dispatches its node's
messages through (replies to its requests, and the output of the tasks it started).

The test process is the head (see conftest.py); the driver is a process of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


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
    env = dict(os.environ, NBRAY_TOKEN=head.server.token)
    out = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c", driver],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "handled ['Output', 'Reply']" in out.stdout, out.stdout
