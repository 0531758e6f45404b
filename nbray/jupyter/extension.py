"""%load_ext nbray: start (or reuse) the cluster for this kernel and wire it into IPython."""

from __future__ import annotations

from typing import Any, List, Optional

_router: Optional[Any] = None
_shell: Optional[Any] = None


def load(shell: Any) -> None:
    global _router, _shell
    import nbray
    from nbray import api
    from nbray.runtime import progress

    from nbray.serialization import set_filename_labeler

    from .magics import NbrayMagics
    from .output import OutputRouter
    from .progress_widget import widget_progress

    if not nbray.is_initialized():
        nbray.init()
    state = api._state
    router = OutputRouter(shell)
    if state.node is not None:
        state.node.output_sink = router.sink
        state.client.tag_provider = router.current_tag
    else:
        # Attached to a cluster elsewhere: the head sends our tasks' output back to us,
        # tagged with the cell that started them.
        state.client.output_sink = router.sink
        attached_tag = state.client.tag_provider

        def tag() -> str:
            cell = router.current_tag()
            return f"{attached_tag()}#{cell}" if cell else attached_tag()

        state.client.tag_provider = tag
    api._interrupt_handler = router.on_interrupt
    progress.set_progress_renderer(widget_progress)
    set_filename_labeler(_cell_labeler(shell))
    shell.register_magics(NbrayMagics)
    _router, _shell = router, shell
    _show(status())


def unload(shell: Any) -> None:
    """%unload_ext nbray: stop the cluster and unhook from IPython."""
    global _router, _shell
    import nbray
    from nbray import api
    from nbray.runtime import progress

    from nbray.serialization import set_filename_labeler

    api._interrupt_handler = None
    progress.set_progress_renderer(None)
    set_filename_labeler(None)
    _router = _shell = None
    nbray.shutdown()


def _cell_labeler(shell: Any) -> Any:
    """File name of a cell's code -> "In [n]", as IPython's own tracebacks name cells."""
    def label(filename: str) -> Optional[str]:
        number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
        return f"In [{number}]" if number is not None else None

    return label


def _show(obj: Any) -> None:
    try:
        from IPython.display import display

        display(obj)
    except ImportError:  # pragma: no cover - IPython is there when this runs
        print(obj)


class ClusterStatus:
    """What %load_ext nbray and %nbray status show: nodes, CPUs, store use."""

    def __init__(self, summary: dict) -> None:
        self.summary = summary

    def _repr_html_(self) -> str:
        from nbray._repr import cluster_html

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
    from nbray import api

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
