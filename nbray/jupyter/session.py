"""The extension's state in this kernel (its output router) and what %nbray status and
%nbray config answer from it; `extension` fills it, the magics read it."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .. import api

_router: Optional[Any] = None


def set_router(router: Optional[Any]) -> None:
    global _router
    _router = router


class ClusterStatus:
    """What %load_ext nbray and %nbray status show: nodes, CPUs, store use."""

    def __init__(self, summary: Dict[str, Any]) -> None:
        self.summary = summary

    def _repr_html_(self) -> str:
        import html

        from .._repr import cluster_html

        address = self.summary.get("attached_to")
        where = ("" if not address else
                 f"<div style='font-size:90%'>Attached to <code>{html.escape(address)}</code>: "
                 f"the cluster runs on without this kernel.</div>")
        return cluster_html(self.summary) + where + (
            "<div style='font-size:90%'>Objects: <code>%nbray objects</code> or "
            "<code>nbray.inspect()</code>; run a cell remotely with <code>%%remote</code>.</div>")

    def __repr__(self) -> str:
        s = self.summary
        attached = f" (attached to {s['attached_to']})" if s.get("attached_to") else ""
        return (f"nbray cluster {s['node_id'][:12]}{attached}: {s['nodes']} node(s), "
                f"{s['resources'].get('CPU', 0):g} CPUs ({s['available'].get('CPU', 0):g} free), "
                f"{s['workers']} workers, {s['objects']} objects, store "
                f"{s['store_used'] / 2**20:.1f} of {s['store_capacity'] / 2**20:.0f} MiB")


def status() -> ClusterStatus:
    """The whole cluster's summary, from the same `summary` query the sidebar reads."""
    return ClusterStatus(api.cluster_summary())


def configure(items: List[str]) -> Any:
    if _router is None:
        raise RuntimeError("the nbray extension is not loaded: run %load_ext nbray")
    settings = {"cancel_on_interrupt": _router.cancel_on_interrupt}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in settings:
            raise ValueError(f"%nbray config takes key=value with key in {', '.join(settings)}; "
                             f"got {item!r}")
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{key} takes true or false, got {value!r}")
        setattr(_router, key, value.lower() in ("true", "1", "yes"))
        settings[key] = getattr(_router, key)
    return settings


__all__ = ["ClusterStatus", "configure", "set_router", "status"]
