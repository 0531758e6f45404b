"""Notebook front end: %load_ext nbray, %%remote, the inspector widget, progress bars.

Importing this package is cheap: IPython and ipywidgets are imported only when
a function here is called.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(shell: Any) -> None:
    from .extension import load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    from .extension import unload

    unload(shell)


def inspect(refresh_s: float = 1.0, page_size: int = 25) -> Any:
    """A live inspector widget of the object store (also `%nbray objects`)."""
    from .inspector import inspect as _inspect

    return _inspect(refresh_s=refresh_s, page_size=page_size)


def _jupyter_server_extension_points() -> list:
    return [{"module": "nbray.jupyter"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .server_ext import load

    load(serverapp)


__all__ = ["load_ipython_extension", "unload_ipython_extension", "inspect"]
