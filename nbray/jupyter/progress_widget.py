"""Progress bar widget for long get() calls in a notebook (text fallback outside one).

The widget draws the runtime's `ProgressState`: a running bar in the info colour, a
failed wait in the error colour ("3/6, 1 failed"), an interrupted one in the warning
colour saying what the interrupt did ("interrupted after 4.0 s: 2 of 6 done, 4
cancelled").  A finished bar disappears.
"""

from __future__ import annotations

import html
import time
from typing import Any, Optional

# `state` below is the runtime's ProgressState (nbray/runtime/progress.py), read through its
# public fields and methods: outcome, done, style, text(), settle_interrupt().

# Text colours matching ipywidgets' bar styles (readable on light and dark themes).
_COLOURS = {"danger": "#d9534f", "warning": "#e08e0b"}

# The bar of the wait an interrupt stopped last: the interrupt handler (output.py) runs
# after the bar was closed and tells it whether the rest was cancelled.
_interrupted: Optional["WidgetProgress"] = None


class WidgetProgress:
    def __init__(self, total: int, label: str) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.start = time.monotonic()
        self.bar = w.IntProgress(min=0, max=max(total, 1), value=0, description="nbray",
                                 bar_style="info", layout=w.Layout(width="50%"))
        self.text = w.HTML(value=f"{label}: 0/{total}")
        self.box = w.HBox([self.bar, self.text])
        self.label = label
        self.state: Optional[Any] = None
        self.stopped: Optional[float] = None   # when the wait ended: the time shown stays
        display(self.box)

    def _draw(self, state: Any) -> None:
        elapsed = (self.stopped or time.monotonic()) - self.start
        line = html.escape(state.text(self.label, elapsed))
        colour = _COLOURS.get(state.style)
        self.text.value = f'<span style="color:{colour}">{line}</span>' if colour else line
        self.bar.value = state.done
        self.bar.bar_style = state.style

    def update(self, state: Any) -> None:
        self._draw(state)

    def close(self, state: Any) -> None:
        global _interrupted
        # A finished bar disappears; a failed, interrupted or timed-out one stays, marked.
        if state.outcome == "finished":
            self.box.close()
            return
        self.state = state
        self.stopped = time.monotonic()
        self.bar.description = state.outcome
        self._draw(state)
        if state.outcome == "interrupted":
            _interrupted = self

    def settle_interrupt(self, cancelling: bool) -> None:
        """The interrupt was handled: say whether the rest was cancelled or keeps running."""
        if self.state is not None:
            self.state.settle_interrupt(cancelling)
            self._draw(self.state)


def settle_interrupted_bar(cancelling: bool) -> None:
    """Called by the interrupt handler once it has (or has not) cancelled the work."""
    global _interrupted
    bar, _interrupted = _interrupted, None
    if bar is not None:
        bar.settle_interrupt(cancelling)


def widget_progress(total: int, label: str) -> Optional[Any]:
    try:
        return WidgetProgress(total, label)
    except Exception:
        import sys

        from ..runtime.notebook_port import TEXT_PROGRESS

        return TEXT_PROGRESS(total, label, sys.stdout)
