"""The API's endpoints: name -> query, with parameter parsing shared by every server, and
the static files (the charts page) both serve.

Both the head's dashboard server and the Jupyter server extension answer
GET /.../api/<name> with `answer(name, params, run_query)`, so the JSON is the
same wherever it is read (models in nbray/dashboard/models.py).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

STATIC = os.path.join(os.path.dirname(__file__), "static")
# The files under static/ that are served, with their types (nothing else is, whatever the path).
STATIC_FILES = {
    "dashboard.js": "text/javascript", "dashboard.css": "text/css",
    "charts.html": "text/html", "charts.js": "text/javascript", "charts.css": "text/css",
    "vendor/chart.umd.min.js": "text/javascript", "vendor/LICENSE.md": "text/plain",
}


def static_file(name: str) -> bytes:
    """The bytes of one of STATIC_FILES (KeyError for any other name)."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    with open(os.path.join(STATIC, *name.split("/")), "rb") as f:
        return f.read()


RunQuery = Callable[[str, Dict[str, Any]], Any]

ENDPOINTS = ("cluster", "nodes", "workers", "tasks", "actors", "objects", "metrics", "timeline")
_SORT = ("size", "created", "last_access", "object_id", "type", "where", "call_site", "owner")
_WHERE = ("inline", "shared_memory", "spilled", "pending")


class BadRequest(ValueError):
    """A parameter is malformed; the message says which and why."""


def _int(params: Dict[str, List[str]], name: str, default: Optional[int], low: int, high: int) -> Optional[int]:
    values = params.get(name)
    if not values:
        return default
    try:
        n = int(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {values[-1]!r}") from None
    if not low <= n <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {n}")
    return n


def _time(params: Dict[str, List[str]], name: str) -> Optional[float]:
    """An epoch time in seconds (a float), or None when not given."""
    values = params.get(name)
    if not values or values[-1] == "":
        return None
    try:
        t = float(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be a time in seconds since the epoch, got {values[-1]!r}") \
            from None
    if not 0 <= t < 1e11:  # also refuses nan and inf
        raise BadRequest(f"{name} must be a time in seconds since the epoch, got {values[-1]!r}")
    return t


def _choice(params: Dict[str, List[str]], name: str, choices: tuple, default: Optional[str]) -> Optional[str]:
    values = params.get(name)
    if not values or values[-1] == "":
        return default
    if values[-1] not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}, got {values[-1]!r}")
    return values[-1]


def answer(name: str, params: Dict[str, List[str]], run_query: RunQuery) -> Any:
    """The JSON answer of endpoint `name`; raises KeyError for an unknown one."""
    if name == "cluster":
        return run_query("summary", {})
    if name == "nodes":
        return run_query("node_view", {})
    if name in ("workers", "actors"):
        return run_query(name, {})
    if name == "metrics":
        return run_query("metrics", {"since": _time(params, "since")})
    if name == "timeline":
        return run_query("timeline_window", {"since": _time(params, "since"),
                                             "limit": _int(params, "limit", 5000, 1, 100000)})
    if name == "tasks":
        return run_query("tasks", {"limit": _int(params, "limit", 1000, 1, 100000)})
    if name == "objects":
        text = (params.get("filter") or [""])[-1]
        if len(text) > 200:
            raise BadRequest("filter is longer than 200 characters")
        args = {
            "sort_by": _choice(params, "sort_by", _SORT, "size"),
            "descending": (params.get("descending") or ["true"])[-1].lower() != "false",
            "filter": text,
            "where": _choice(params, "where", _WHERE, None),
            "offset": _int(params, "offset", 0, 0, 10**9),
            "limit": _int(params, "limit", 100, 1, 10000),
        }
        ref = (params.get("ref_type") or [""])[-1]
        if ref:
            args["ref_type"] = ref
        return run_query("memory", args)
    raise KeyError(name)
