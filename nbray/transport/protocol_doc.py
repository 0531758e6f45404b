"""The message table of docs/protocol.md, rendered from the records of `messages.py`.

A test compares the table in the docs with `render_table()`, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any, Dict, List

from .messages import CHANNELS, messages


def type_text(record: type, field: str) -> str:
    hint = getattr(record, "__annotations__", {}).get(field, "Any")
    # Kept as written (`from __future__ import annotations`): a string or a ForwardRef.
    text = getattr(hint, "__forward_arg__", hint)
    return str(text).replace("typing.", "")


def render_table() -> str:
    """The message table of docs/protocol.md (Markdown), made from the records."""
    titles = {"worker->node": "Worker (or attached driver) to node",
              "node->worker": "Node to worker (or attached driver)",
              "agent->head": "Node agent to head", "head->agent": "Head to node agent"}
    out: List[str] = []
    for channel in CHANNELS:
        out += [f"### {titles[channel]} (`{channel}`)", "",
                "| op | record | fields | meaning |", "|---|---|---|---|"]
        for info in messages(channel):
            record = info.record
            defaults: Dict[str, Any] = getattr(record, "_field_defaults", {})
            fields = ", ".join(
                f"`{f}: {type_text(record, f)}" + (f" = {defaults[f]!r}`" if f in defaults
                                                     else "`")
                for f in getattr(record, "_fields"))
            meaning = " ".join((record.__doc__ or "").split())
            if info.request:
                meaning += f" **Reply:** {info.reply}."
            out.append(f"| `{info.op}` | `{record.__name__}` | {fields or '(none)'} | "
                       f"{meaning.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


__all__ = ["render_table", "type_text"]
