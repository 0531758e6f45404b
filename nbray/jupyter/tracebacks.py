"""Ctrl-C in a notebook shows the user's frames, not nbray's.

The frames a get() or wait() passes through set `__tracebackhide__ = True`, which IPython
(and pytest) honour: IPython's verbose traceback skips such a frame, unless it is the
last one (the frame the error was raised in), and for a KeyboardInterrupt that last frame
is always nbray's (the signal arrives while it waits).  So the extension also installs a
handler for KeyboardInterrupt that cuts the traceback at the first hidden frame below the
user's code before IPython formats it: the interrupt shows the cell's line and nothing of
nbray.  Other exceptions are left to IPython (task errors render themselves, see
RayTaskError._render_traceback_).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, List, Optional


def _hidden(tb: TracebackType) -> bool:
    try:
        return bool(tb.tb_frame.f_locals.get("__tracebackhide__", False))
    except Exception:  # noqa: BLE001 - a frame whose locals cannot be read is shown
        return False


def cut_hidden_frames(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """`tb` ending before the first hidden frame (one that sets __tracebackhide__) that
    follows a shown one, changed in place.  Leading hidden frames (IPython's own run_code
    hides itself so) stay, as does a traceback with no shown frame before a hidden one."""
    shown = False
    current = tb
    while current is not None and current.tb_next is not None:
        shown = shown or not _hidden(current)
        if shown and _hidden(current.tb_next):
            current.tb_next = None
            break
        current = current.tb_next
    return tb


def _show_interrupt(shell: Any, etype: type, value: BaseException, tb: Optional[TracebackType],
                    tb_offset: Optional[int] = None) -> Optional[List[str]]:
    """IPython's custom exception handler for KeyboardInterrupt: shown as IPython would,
    without nbray's frames."""
    tb = cut_hidden_frames(tb)
    if value is not None:
        value.__traceback__ = tb
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    return None


def install(shell: Any) -> bool:
    """Handle KeyboardInterrupt tracebacks (when the shell has no custom handler yet)."""
    if getattr(shell, "custom_exceptions", ()) not in ((), None):
        return False   # the user's (or another extension's) handler stays
    shell.set_custom_exc((KeyboardInterrupt,), _show_interrupt)
    return True


def uninstall(shell: Any) -> None:
    if getattr(shell, "custom_exceptions", ()) == (KeyboardInterrupt,):
        shell.set_custom_exc((), None)


__all__ = ["cut_hidden_frames", "install", "uninstall"]
