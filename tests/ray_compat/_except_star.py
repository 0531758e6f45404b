"""`except*` (Python 3.11 syntax), kept in its own module so the suite imports on Python 3.9."""

from __future__ import annotations

from typing import Any, Callable, List, Tuple


def split_by_except_star(call: Callable[[], Any]) -> List[Tuple[str, BaseException]]:
    """Run `call` and return, in order, which `except*` clause caught what."""
    caught: List[Tuple[str, BaseException]] = []
    try:
        call()
    except* ValueError as group:
        caught.append(("ValueError", group))
    except* TypeError as group:
        caught.append(("TypeError", group))
    return caught
