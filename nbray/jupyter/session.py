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
        from .._repr import cluster_html

        return cluster_html(self.summary) + (
            "<div style='font-size:90%'>Objects: <code>%nbray objects</code> or "
            "<code>nbray.inspect()</code>; run a cell remotely with <code>%%remote</code>.</div>")

    def __repr__(self) -> str:
        s = self.summary
        return (f"nbray cluster {s['node_id'][:12]}: {s['nodes']} node(s), "
                f"{s['resources'].get('CPU', 0):g} CPUs ({s['available'].get('CPU', 0):g} free), "
                f"{s['workers']} workers, {s['objects']} objects, store "
                f"{s['store_used'] / 2**20:.1f} of {s['store_capacity'] / 2**20:.0f} MiB")


def status() -> ClusterStatus:
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
