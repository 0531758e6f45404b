"""display() for code running on a worker: sends a MIME bundle to the cell that started it."""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Dict

from ..transport.messages import Log, wire

_TEXT_REPRS = {"_repr_html_": "text/html", "_repr_markdown_": "text/markdown",
               "_repr_svg_": "image/svg+xml", "_repr_latex_": "text/latex",
               "_repr_json_": "application/json"}
_BINARY_REPRS = {"_repr_png_": "image/png", "_repr_jpeg_": "image/jpeg"}


def mimebundle(obj: Any) -> Dict[str, Any]:
    data: Dict[str, Any] = {"text/plain": repr(obj)}
    method = getattr(obj, "_repr_mimebundle_", None)
    if callable(method):
        try:
            got = method()
            if isinstance(got, tuple):
                got = got[0]
            if isinstance(got, dict):
                data.update({k: v for k, v in got.items() if isinstance(v, (str, dict, list))})
        except Exception:
            pass
    for attr, mime in _TEXT_REPRS.items():
        fn = getattr(obj, attr, None)
        if callable(fn):
            try:
                value = fn()
            except Exception:
                continue
            if value is not None:
                data[mime] = value
    for attr, mime in _BINARY_REPRS.items():
        fn = getattr(obj, attr, None)
        if callable(fn):
            try:
                value = fn()
            except Exception:
                continue
            if isinstance(value, bytes):
                data[mime] = base64.b64encode(value).decode()
    if "image/png" not in data and hasattr(obj, "savefig"):  # a matplotlib figure
        buf = io.BytesIO()
        try:
            obj.savefig(buf, format="png", bbox_inches="tight")
            data["image/png"] = base64.b64encode(buf.getvalue()).decode()
        except Exception:
            pass
    return data


def display(*objs: Any) -> None:
    """Show objects under the notebook cell that started this task (print elsewhere)."""
    from . import context

    client = context.current_client()
    send = getattr(client, "send", None)
    spec = getattr(client, "current_task", None)
    for obj in objs:
        bundle = mimebundle(obj)
        if send is None or spec is None:
            print(bundle["text/plain"])
            continue
        send(wire(Log("display", json.dumps(bundle, default=str),
                      (spec.log_name or spec.name), spec.task_id)))
