"""Helpers shared by the conformance tests, written on the public API only (so they behave the
same on both backends and can never explain a difference between them)."""

from __future__ import annotations

from typing import Any


class Gate:
    """An async actor class: `wait()` stays pending until `open()` is called (by anyone), so a
    test decides when a task or actor call that waits on it finishes."""

    def __init__(self) -> None:
        self.event: Any = None

    def _event(self) -> Any:
        import asyncio

        if self.event is None:   # made on the actor's event loop, on first use
            self.event = asyncio.Event()
        return self.event

    async def wait(self) -> str:
        await self._event().wait()
        return "opened"

    async def open(self) -> None:
        self._event().set()


def make_gate(ray: Any) -> Any:
    """A Gate actor that needs no CPU, so it never takes one from the tasks under test."""
    return ray.remote(num_cpus=0)(Gate).remote()
