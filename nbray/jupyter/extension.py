"""%load_ext nbray: start (or reuse) the cluster for this kernel and wire it into IPython.

Everything it hooks goes through the backend's `NotebookPort` (output routing, interrupts,
progress bars, cell names in tracebacks); it sets no attribute of a runtime object.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .. import api
from ..runtime.notebook_port import current_port
from . import session, tracebacks

_shell: Optional[Any] = None


def load(shell: Any) -> None:
    global _shell
    from .magics import NbrayMagics
    from .naming import holder_provider
    from .output import OutputRouter
    from .progress_widget import widget_progress

    if not api.is_initialized():
        api.init()
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
    _show(session.status())


def unload(shell: Any) -> None:
    """%unload_ext nbray: stop the cluster and unhook from IPython."""
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
    api.shutdown()


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

