"""The extension's state in this kernel (its output router) and what %nbray status and
%nbray config answer from it; `extension` fills it, the magics read it."""

from __future__ import annotations

from typing import Any, Dict, List, Optional


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

        if self.summary.get("waiting") or self.summary.get("error"):
            return f"<div>{html.escape(repr(self))}</div>"
        address = self.summary.get("attached_to")
        where = ("" if not address else
                 f"<div style='font-size:90%'>Attached to <code>{html.escape(address)}</code>: "
                 f"the cluster runs on without this kernel.</div>")
        if self.summary.get("backend") == "ray":
            where = (f"<div style='font-size:90%'>nbray's notebook layer on the Ray cluster at "
                     f"<code>{html.escape(str(address or ''))}</code>; task output: "
                     f"{html.escape(self.summary.get('output_routing') or 'Ray prints it')}."
                     f"</div>")
        return cluster_html(self.summary) + where + (
            "<div style='font-size:90%'>Objects: <code>%nbray objects</code> or "
            "<code>nbray.inspect()</code>; run a cell remotely with <code>%%remote</code>.</div>")

    def __repr__(self) -> str:
        s = self.summary
        if s.get("waiting"):
            return ("nbray's notebook layer is on Ray, which is not initialized yet: "
                    "ray.init() starts or joins a cluster and the views follow it")
        if s.get("error"):
            return f"nbray's notebook layer on {s.get('backend')}: {s['error']}"
        attached = f" (attached to {s['attached_to']})" if s.get("attached_to") else ""
        if s.get("backend") == "ray":
            attached = f" at {s.get('attached_to')}"
        title = "Ray cluster" if s.get("backend") == "ray" else "nbray cluster"
        return (f"{title} {s['node_id'][:12]}{attached}: {s['nodes']} node(s), "
                f"{s['resources'].get('CPU', 0):g} CPUs ({s['available'].get('CPU', 0):g} free), "
                f"{s['workers']} workers, {s['objects']} objects, store "
                f"{s['store_used'] / 2**20:.1f} of {s['store_capacity'] / 2**20:.0f} MiB"
                + (f"; task output: {s.get('output_routing') or 'printed by Ray'}"
                   if s.get("backend") == "ray" else ""))


def status() -> ClusterStatus:
    """The whole cluster's summary, from the same `summary` query the sidebar reads."""
    from ..backends import current_port

    port = current_port()
    if port.name == "ray" and not port.is_initialized():
        return ClusterStatus({"backend": "ray", "waiting": True})
    try:
        return ClusterStatus(port.cluster_summary())
    except RuntimeError as e:  # the backend cannot say (Ray without its state API): why
        return ClusterStatus({"backend": port.name, "error": str(e)})


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
