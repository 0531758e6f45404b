"""Progress bar widget for long get() calls in a notebook (text fallback outside one)."""

from __future__ import annotations

import time
from typing import Any, Optional


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
        display(self.box)

    def update(self, done: int, total: int) -> None:
        self.bar.value = done
        self.text.value = f"{self.label}: {done}/{total} ({time.monotonic() - self.start:.1f} s)"

    def close(self, done: int, total: int) -> None:
        # A finished bar disappears; an interrupted or timed-out one stays, marked.
        if done >= total:
            self.box.close()
        else:
            self.update(done, total)
            self.bar.bar_style = "danger"


def widget_progress(total: int, label: str) -> Optional[Any]:
    try:
        return WidgetProgress(total, label)
    except Exception:
        import sys

        from ..runtime.notebook_port import TEXT_PROGRESS

        return TEXT_PROGRESS(total, label, sys.stdout)
