"""%load_ext nbray: start (or reuse) the cluster for this kernel and wire it into IPython;
%unload_ext and %reload_ext nbray: unhook, and keep the cluster whenever it is wanted.

Everything it hooks goes through the backend's `NotebookPort` (output routing, interrupts,
progress bars, cell names in tracebacks); it sets no attribute of a runtime object.  The
backend is nbray's own runtime, or Ray when this kernel imported Ray (or NBRAY_BACKEND=ray):
then `import ray` code runs on Ray and the same views show the Ray cluster.  A kernel on
nbray that initializes Ray in a later cell moves to Ray at the end of that cell.

Who owns the cluster decides what unloading does.  A cluster the user started
(`nbray.init()`, local or attached, NBRAY_ADDRESS included) is never stopped by the
extension.  A cluster `%load_ext` started is stopped when the extension is unloaded, but
only at the end of the cell: `%reload_ext` (an unload and a load in the same cell) cancels
the stop, so its workers and every ref made before it live on.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from ..backends import current_port, requested_backend, select_port
from . import session, tracebacks

_shell: Optional[Any] = None
# The driver %load_ext started, by its node id (unique to each init(); None: the user started
# the cluster, or none runs): only that one is ever stopped by unloading.
_owned: Optional[str] = None
# The post_run_cell callback that will stop it, while an unload waits for its cell to end.
_pending_stop: Optional[Callable[..., None]] = None


def load(shell: Any) -> None:
    global _shell, _owned
    from .magics import NbrayMagics
    from .naming import holder_provider
    from .output import OutputRouter
    from .progress_widget import widget_progress

    _cancel_pending_stop(shell)
    port = select_port()  # nbray's runtime, or Ray (see nbray.backends.select_port)
    if not port.start_after_hooks and not port.is_initialized():
        port.start()
        _owned = port.cluster_id()
    router = OutputRouter(shell)
    port.route_output(router.sink, router.current_tag)
    port.on_interrupt(router.on_interrupt)
    port.render_progress(widget_progress)
    port.label_cells(_cell_labeler(shell))
    port.name_holders(holder_provider(shell))
    router.hook(port.cell_ended)
    tracebacks.install(shell)
    shell.register_magics(NbrayMagics)
    session.set_router(router)
    _shell = shell
    if port.start_after_hooks and not port.is_initialized() and _wants_start(port):
        port.start()  # after the hooks: Ray's workers get the output routing's setup hook
        _owned = port.cluster_id()
    _follow_ray(shell, port)
    _bind_name(shell)
    _show(session.status())


def _wants_start(port: Any) -> bool:
    """Whether %load_ext starts the backend's cluster itself: always for nbray; for Ray
    only when NBRAY_BACKEND=ray asked for it (else the user's ray.init() will)."""
    return port.name != "ray" or requested_backend() == "ray"


def _follow_ray(shell: Any, port: Any) -> None:
    """On nbray's runtime, watch for the user starting Ray in a later cell (`import ray;
    ray.init()`): from the end of that cell on, the notebook layer shows Ray."""
    events = getattr(shell, "events", None)
    if events is None:
        return
    for callback in list(getattr(events, "callbacks", {}).get("post_run_cell", [])):
        if getattr(callback, "__name__", "") == "_switch_to_ray_if_started":
            events.unregister("post_run_cell", callback)
    if port.name == "ray" or requested_backend() == "nbray":
        return

    def _switch_to_ray_if_started(*_result: Any) -> None:
        from ..backends import current_port, ray_initialized

        if current_port().name == "ray" or not ray_initialized():
            return
        events.unregister("post_run_cell", _switch_to_ray_if_started)
        _move_to_ray(shell)

    events.register("post_run_cell", _switch_to_ray_if_started)


def _move_to_ray(shell: Any) -> None:
    """Ray was initialized after %load_ext nbray: stop the nbray cluster the extension
    started when nothing is stored in it (else leave it running: its objects are the
    user's), and load the notebook layer again, on Ray."""
    global _owned
    from ..backends import current_port, select_port

    local = current_port()
    unload(shell)
    _cancel_pending_stop(shell)
    if _owned is not None and _owned == local.cluster_id():
        try:
            empty = local.cluster_summary().get("objects", 0) == 0
        except Exception:
            empty = False
        if empty:
            local.shutdown()
    _owned = None
    select_port("ray")
    load(shell)


def unload(shell: Any) -> None:
    """%unload_ext nbray: unhook from IPython now; stop the cluster at the end of the cell,
    and only when %load_ext started it (see the module's docstring)."""
    global _shell
    from .output import OutputRouter

    port = current_port()
    port.on_interrupt(None)
    port.render_progress(None)
    port.label_cells(None)
    port.name_holders(None)
    port.release()
    OutputRouter.unhook(shell)
    tracebacks.uninstall(shell)
    session.set_router(None)
    _shell = None
    if _owned is not None and _owned == port.cluster_id():
        _schedule_stop(shell)


def _schedule_stop(shell: Any) -> None:
    global _pending_stop
    events = getattr(shell, "events", None)
    if events is None:  # not a full InteractiveShell: nothing marks the cell's end
        _stop_owned()
        return

    def stop_after_cell(*_result: Any) -> None:
        _cancel_pending_stop(shell)
        _stop_owned()

    _cancel_pending_stop(shell)
    events.register("post_run_cell", stop_after_cell)
    _pending_stop = stop_after_cell


def _cancel_pending_stop(shell: Any) -> None:
    global _pending_stop
    if _pending_stop is not None:
        try:
            shell.events.unregister("post_run_cell", _pending_stop)
        except ValueError:
            pass
        _pending_stop = None


def _stop_owned() -> None:
    global _owned
    port = current_port()
    if _owned is not None and _owned == port.cluster_id():
        port.shutdown()
    _owned = None


def _bind_name(shell: Any) -> None:
    """Make `nbray` usable in the notebook (the status display suggests nbray.inspect()),
    unless the user already gave that name to something."""
    user_ns = getattr(shell, "user_ns", None)
    if user_ns is not None and "nbray" not in user_ns:
        shell.push({"nbray": sys.modules["nbray"]}, interactive=False)


def _cell_labeler(shell: Any) -> Callable[[str], Optional[str]]:
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

