"""The inspector's look: HTML and text for one page of object rows and the node store bars.

Pure functions of plain dicts (the rows nbray.memory() returns, plus the notebook's
`held_by` names), so the live widget, its static HTML snapshot (nbconvert, the docs)
and its text/plain form show the same table.  One line per object: the columns a
user reads first (id, size with a bar, type, where, held by, call site); the rest of
a row (full id, owner, locations, reference types, spill file) is in hover titles.
Colours are JupyterLab's theme variables, with fallbacks for pages that lack them
(classic notebook, nbconvert HTML, the Sphinx site), so the dark theme reads too.
"""

from __future__ import annotations

import html
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")

# The task part of an object id (what differs between tasks and puts), in hex digits;
# the last 8 hex digits are the return index, ffffffff for put().
_TASK_HEX = 48
_PUT_INDEX_HEX = "ffffffff"
_SHORT_MIN = 8

WHERE_LABELS = {"inline": "inline", "shared_memory": "shared mem", "spilled": "spilled",
                "pending": "pending"}
# What keeps an object alive when no notebook name does, in words.
REFERENCE_WORDS = {"LOCAL_REFERENCE": "its owner", "BORROWED": "another process",
                   "USED_BY_PENDING_TASK": "a pending task", "CAPTURED_IN_OBJECT": "another object",
                   "CAPTURED_BY_CLOSURE": "a remote function", "PINNED_IN_MEMORY": "a mapped array",
                   "ACTOR_HANDLE": "an actor"}

# Theme colours: JupyterLab's variables first, then furo's (the docs), then a light default.
_FG = "var(--jp-ui-font-color1, var(--color-foreground-primary, #1f2328))"
_FG2 = "var(--jp-ui-font-color2, var(--color-foreground-secondary, #59636e))"
_BORDER = "var(--jp-border-color2, var(--color-background-border, #d0d7de))"
_STRIPE = "var(--jp-layout-color2, var(--color-background-secondary, rgba(127,127,127,0.08)))"
_HOVER = "var(--jp-layout-color3, var(--color-background-hover, rgba(127,127,127,0.18)))"
_TRACK = "var(--jp-layout-color3, rgba(127,127,127,0.22))"
_BRAND = "var(--jp-brand-color1, var(--color-brand-primary, #1976d2))"
_WARN = "var(--jp-warn-color0, #bf360c)"
_MONO = "var(--jp-code-font-family, SFMono-Regular, Menlo, Consolas, monospace)"
_UI = "var(--jp-ui-font-family, system-ui, -apple-system, 'Segoe UI', sans-serif)"

STYLE = f"""<style>
.nbray-iv {{ color: {_FG}; font-family: {_UI}; font-size: 12px; line-height: 20px; }}
.nbray-iv .nbray-scroll {{ overflow-x: auto; max-width: 100%; }}
.nbray-iv table.nbray-objects {{ border-collapse: collapse; table-layout: fixed; width: 100%;
  min-width: 560px; max-width: 1280px; margin: 0; color: {_FG}; background: transparent; font-size: 12px; }}
.nbray-iv table.nbray-objects th, .nbray-iv table.nbray-objects td {{ padding: 1px 4px;
  height: 20px; line-height: 20px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; text-align: left; vertical-align: middle; border: none;
  color: {_FG}; background: transparent; }}
.nbray-iv table.nbray-objects th {{ font-weight: 600; color: {_FG2};
  border-bottom: 1px solid {_BORDER}; }}
.nbray-iv table.nbray-objects tbody tr:nth-child(even) td {{ background: {_STRIPE}; }}
.nbray-iv table.nbray-objects tbody tr:hover td {{ background: {_HOVER}; }}
.nbray-iv .nbray-id, .nbray-iv .nbray-mono {{ font-family: {_MONO}; }}
.nbray-iv td.nbray-size {{ font-variant-numeric: tabular-nums; }}
.nbray-iv .nbray-size-text {{ display: inline-block; width: 5.6em; text-align: right;
  margin-right: 6px; }}
.nbray-iv .nbray-bar {{ display: inline-block; width: calc(100% - 6.4em); max-width: 120px;
  height: 6px; border-radius: 3px; background: {_TRACK}; vertical-align: middle;
  overflow: hidden; }}
.nbray-iv .nbray-bar > span {{ display: block; height: 100%; background: {_BRAND}; }}
.nbray-iv table.nbray-objects td.nbray-where-spilled {{ color: {_WARN}; font-weight: 600; }}
.nbray-iv table.nbray-objects td.nbray-where-pending, .nbray-iv table.nbray-objects td.nbray-muted,
.nbray-iv .nbray-muted {{ color: {_FG2}; font-style: italic; }}
.nbray-iv .nbray-node {{ display: flex; flex-wrap: wrap; align-items: center; gap: 2px 8px;
  margin: 2px 0; }}
.nbray-iv .nbray-node .nbray-bar {{ width: 160px; max-width: 160px; height: 8px; }}
.nbray-iv .nbray-caption {{ color: {_FG2}; margin: 2px 0; }}
</style>"""

# id, size+bar, type, where, held by, call site: the short columns have fixed widths, the
# others share what is left, so a narrow notebook ellipsises long types and holder lists
# ("In [123] line 45" still fits the call site column).
_COLUMNS = (("object id", "7.5em"), ("size", "10em"), ("type", ""), ("where", "7em"),
            ("held by", ""), ("call site", "11em"))


def size_text(n: float) -> str:
    for unit in _SIZE_UNITS:
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def short_ids(ids: Iterable[str]) -> Dict[str, str]:
    """hex id -> a short form that tells it from the other ids given.

    The first hex digits of an id differ between tasks (ids.py scrambles the counter), so
    a prefix of 8 usually suffices; it grows while two tasks share it.  Returns of one
    task differ only in their index: those get `…#index`."""
    ids = list(dict.fromkeys(ids))
    tasks = sorted({i[:_TASK_HEX] for i in ids})
    n = _SHORT_MIN
    while n < _TASK_HEX and len({t[:n] for t in tasks}) < len(tasks):
        n += 4
    siblings: Dict[str, int] = {}
    for i in ids:
        siblings[i[:_TASK_HEX]] = siblings.get(i[:_TASK_HEX], 0) + 1
    out = {}
    for i in ids:
        short = i[:n]
        index = i[_TASK_HEX:]
        if siblings[i[:_TASK_HEX]] > 1 and index != _PUT_INDEX_HEX and len(i) > _TASK_HEX:
            short += f"…#{int(index, 16)}"
        out[i] = short
    return out


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def held_text(row: Dict[str, Any]) -> str:
    """Who keeps the object alive, in one short phrase: the notebook's names first."""
    if row.get("held_by"):
        return ", ".join(row["held_by"])
    words = [REFERENCE_WORDS.get(t, t) for t in row.get("reference_types", [])]
    return ", ".join(words) if words else "nothing (being freed)"


def _details(row: Dict[str, Any]) -> str:
    """The hover text of a row's id: everything the narrow columns leave out."""
    owner = row.get("owner") or {}
    lines = [row["object_id"],
             f"owner: {owner.get('process', '?')} (pid {owner.get('pid')})",
             "locations: " + (", ".join(x[:12] for x in row.get("locations", [])) or "-"),
             "references: " + (", ".join(row.get("reference_types", [])) or "-"),
             f"created by: {row.get('created_by', '')}"]
    if row.get("task_id"):
        lines.append(f"task: {row['task_id']}")
    if row.get("spill_url"):
        lines.append(f"spilled to: {row['spill_url']}")
    return "\n".join(lines)


def table_html(rows: Sequence[Dict[str, Any]]) -> str:
    """One page of objects as a dense table (<tr class='nbray-object' data-object-id=...>)."""
    largest = max((r["size"] for r in rows), default=0) or 1
    shorts = short_ids(r["object_id"] for r in rows)
    cols = "".join(f"<col style='width:{w}'>" if w else "<col>" for _, w in _COLUMNS)
    head = "".join(f"<th>{name}</th>" for name, _ in _COLUMNS)
    body = []
    for r in rows:
        oid = r["object_id"]
        pct = 100.0 * r["size"] / largest
        where = r["where"]
        where_title = where + (f" → {r['spill_url']}" if r.get("spill_url") else "")
        held = held_text(r)
        held_title = ("held by " + ", ".join(r["held_by"]) if r.get("held_by") else
                      "referenced by " + held)
        held_title += "\nreferences: " + (", ".join(r.get("reference_types", [])) or "-")
        held_cls = "" if r.get("held_by") else " class='nbray-muted'"
        site = r.get("call_site") or r.get("created_by") or ""
        site_title = f"{site}\ncreated by: {r.get('created_by', '')}"
        body.append(
            f"<tr class='nbray-object' data-object-id='{oid}'>"
            f"<td class='nbray-id' title='{_attr(_details(r))}'>{html.escape(shorts[oid])}</td>"
            f"<td class='nbray-size' title='{r['size']:,} bytes'>"
            f"<span class='nbray-size-text'>{size_text(r['size'])}</span>"
            f"<span class='nbray-bar'><span style='width:{pct:.1f}%;"
            f"min-width:{1 if r['size'] else 0}px'></span></span></td>"
            f"<td title='{_attr(r['type'])}'>{html.escape(r['type'])}</td>"
            f"<td class='nbray-where-{_attr(where)}' title='{_attr(where_title)}'>"
            f"{html.escape(WHERE_LABELS.get(where, where))}</td>"
            f"<td{held_cls} title='{_attr(held_title)}'>{html.escape(held)}</td>"
            f"<td class='nbray-mono' title='{_attr(site_title)}'>{html.escape(site)}</td></tr>")
    if not rows:
        body.append(f"<tr><td colspan='{len(_COLUMNS)}' class='nbray-muted'>no objects</td></tr>")
    return (f"<div class='nbray-iv'>{STYLE}<div class='nbray-scroll'>"
            f"<table class='nbray-objects'><colgroup>{cols}</colgroup><thead><tr>{head}</tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table></div></div>")


def node_label(n: Dict[str, Any], this_node: Optional[str] = None,
               pid: Optional[int] = None) -> str:
    """What a node row is, as the sidebar and the dashboard say it: "head node", "worker
    node", or an attached driver's own store ("driver pid N (this kernel)" for this one)."""
    mine = this_node is not None and n["node_id"] == this_node
    short = n["node_id"][:12]
    host = n.get("hostname") or ""
    if n.get("is_driver"):
        label = f"driver pid {pid} (this kernel)" if mine and pid else f"driver {short} {host}"
    else:
        label = (f"{'head' if n.get('is_head') else 'worker'} node {short} {host}"
                 + (" (this kernel)" if mine else ""))
    if n.get("alive") is False:
        label += " (gone)" if n.get("is_driver") else " (lost)"
    return label.strip()


def nodes_html(nodes: Sequence[Dict[str, Any]], this_node: Optional[str] = None,
               pid: Optional[int] = None) -> str:
    """One line per node, labelled by what it is (node_label): store use as a bar (shared
    memory, then spilled) and counts.  `this_node` is the id of this kernel's own store
    (the head when the kernel started the cluster, its driver store when it attached)."""
    parts = []
    for n in nodes:
        cap = n["store_capacity"] or 1
        pct = min(100.0, 100.0 * n["store_used"] / cap)
        spilled = n.get("spilled_bytes", 0)
        role = "driver" if n.get("is_driver") else "head" if n.get("is_head") else "node"
        parts.append(
            f"<div class='nbray-node nbray-node-{role}' data-node-id='{_attr(n['node_id'])}'>"
            f"<b class='nbray-mono' title='{_attr(n['node_id'])}'>"
            f"{html.escape(node_label(n, this_node, pid))}</b>"
            f"<span class='nbray-bar' title='{pct:.1f}% of the store used'>"
            f"<span style='width:{pct:.1f}%'></span></span>"
            f"<span>store {size_text(n['store_used'])} of {size_text(n['store_capacity'])} "
            f"({pct:.1f}%), {n['objects']} objects, spilled {size_text(spilled)} in "
            f"{n.get('spilled_objects', 0)} objects</span></div>")
    return f"<div class='nbray-iv'>{''.join(parts)}</div>"


def snapshot_html(nodes: Sequence[Dict[str, Any]], rows: Sequence[Dict[str, Any]],
                  page_label: str, this_node: Optional[str] = None,
                  pid: Optional[int] = None) -> str:
    """The static form of the inspector, for pages where widgets cannot run."""
    taken = time.strftime("%H:%M:%S")
    return (f"<div class='nbray-inspector-snapshot'>{nodes_html(nodes, this_node, pid)}"
            f"<div class='nbray-iv'><div class='nbray-caption'>{html.escape(page_label)} "
            f"(snapshot at {taken}; live in a running notebook)</div></div>"
            f"{table_html(rows)}</div>")


def snapshot_text(rows: Sequence[Dict[str, Any]], page_label: str) -> str:
    """The text/plain form: one line per object."""
    shorts = short_ids(r["object_id"] for r in rows)
    lines = [f"nbray inspector: {page_label}",
             f"{'object id':<14} {'size':>10}  {'type':<24} {'where':<10} {'held by':<22} "
             f"call site"]
    for r in rows:
        lines.append(f"{shorts[r['object_id']]:<14} {size_text(r['size']):>10}  "
                     f"{_clip(r['type'], 24):<24} {WHERE_LABELS.get(r['where'], r['where']):<10} "
                     f"{_clip(held_text(r), 22):<22} {r.get('call_site') or r.get('created_by')}")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


__all__ = ["STYLE", "node_label", "nodes_html", "table_html", "snapshot_html", "snapshot_text", "short_ids",
           "size_text", "held_text"]
