"""The one process-wide slot: the client this process talks to the cluster through.

In the driver it is set by init()/shutdown(); in a worker process by the worker
at start-up.  Everything else receives its collaborators explicitly.
"""

from __future__ import annotations

from typing import Any, Optional

_client: Optional[Any] = None


def set_client(client: Optional[Any]) -> None:
    global _client
    _client = client


def current_client() -> Optional[Any]:
    return _client
