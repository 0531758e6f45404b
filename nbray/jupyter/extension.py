"""%load_ext nbray: start (or reuse) the cluster for this kernel and wire it into IPython;
%unload_ext and %reload_ext nbray: unhook, and keep the cluster whenever it is wanted.

Everything it hooks goes through the backend's `NotebookPort` (output routing, interrupts,
progress bars, cell names in tracebacks); it sets no attribute of a runtime object.

Who owns the cluster decides what unloading does.  A cluster the user started
(`nbray.init()`, local or attached, NBRAY_ADDRESS included) is never stopped by the
extension.  A cluster `%load_ext` started is stopped when the extension is unloaded, but
only at the end of the cell: `%reload_ext` (an unload and a load in the same cell) cancels
the stop, so its workers and every ref made before it live on.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from .. import api
from ..runtime.notebook_port import current_port
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
    if not api.is_initialized():
        api.init()  # NBRAY_ADDRESS, when set, attaches instead of starting one here
        _owned = _running()
    router = OutputRouter(shell)
    port = current_port()
    port.route_output(router.sink, router.current_tag)
    port.on_interrupt(router.on_interrupt)
    port.render_progress(widget_progress)
    port.label_cells(_cell_labeler(shell))
    port.name_holders(holder_provider(shell))
    router.hook()
    tracebacks.install(shell)
    shell.register_magics(NbrayMagics)
    session.set_router(router)
    _shell = shell
    _bind_name(shell)
    _show(session.status())


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
    OutputRouter.unhook(shell)
    tracebacks.uninstall(shell)
    session.set_router(None)
    _shell = None
    if _owned is not None and _owned == _running():
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
    if _owned is not None and _owned == _running():
        api.shutdown()
    _owned = None


def _running() -> Optional[str]:
    """The node id of this kernel's driver, None when no cluster runs."""
    return api.get_runtime_context().get_node_id() if api.is_initialized() else None


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

