"""HTML snippets for notebook reprs, built with the standard library only."""

from __future__ import annotations

import html
from typing import Any, Dict


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB" if n < 2**30 else f"{n / 2**30:,.2f} GiB"


def object_ref_html(ref: Any) -> str:
    return (f"<code title='nbray ObjectRef'>ObjectRef(<b>{html.escape(ref.hex()[:16])}</b>"
            f"{html.escape(ref.hex()[16:])})</code>")


def cluster_html(summary: Dict[str, Any]) -> str:
    used, cap = summary["store_used"], summary["store_capacity"]
    pct = 100.0 * used / cap if cap else 0.0
    cpus = summary["resources"].get("CPU", 0)
    rows = [
        ("Nodes", str(summary["nodes"])),
        ("CPUs", f"{summary['available'].get('CPU', 0):g} free of {cpus:g}"),
        ("Workers", str(summary["workers"])),
        ("Objects", f"{summary['objects']:,}"),
        ("Object store", f"{_mib(used)} of {_mib(cap)} ({pct:.1f}%)"),
    ]
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
    bar = (f"<div style='width:240px;height:8px;background:#ddd;border-radius:4px'>"
           f"<div style='width:{pct:.1f}%;height:8px;background:#3b82f6;border-radius:4px'></div></div>")
    title = "Ray cluster" if summary.get("backend") == "ray" else "nbray cluster"
    return (f"<div class='nbray-cluster'><b>{title}</b> "
            f"<code>{html.escape(summary['node_id'][:12])}</code><table>{body}</table>{bar}</div>")
