"""Worker output under the notebook cell that started the work, rate limited.

Each task carries the tag of the cell that submitted it (the execute_request's
msg_id; nested tasks inherit it).  Output is sent on IOPub with that cell's
parent header, so it lands under the right cell even after the cell finished
or while a later cell runs.  A token bucket per cell keeps a print flood from
freezing the front end; what is dropped is counted and reported.

Headless runners (nbconvert, nbclient, papermill, myst-nb) keep only what arrives before
a cell's execute reply.  Output of tasks a cell waited for has reached the router by then
(a worker sends a task's lines before its result, on the same socket); when the cell
ends (`post_run_cell`, before the reply), the router also reports at once the lines it
dropped for that cell, instead of a second later.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any, Callable, Dict, Optional

LINES_PER_SECOND = 200
BURST_LINES = 2000
MAX_CELLS = 500


class _Bucket:
    __slots__ = ("tokens", "stamp", "dropped", "reported", "timer")

    def __init__(self) -> None:
        self.tokens = float(BURST_LINES)
        self.stamp = time.monotonic()
        self.dropped = 0
        self.reported = 0.0
        self.timer: Optional[threading.Timer] = None


class OutputRouter:
    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.kernel = getattr(shell, "kernel", None)
        self.parents: "collections.OrderedDict[str, Dict[str, Any]]" = collections.OrderedDict()
        self.buckets: Dict[str, _Bucket] = {}
        self.lock = threading.Lock()
        self.cancel_on_interrupt = True
        self._before_reply: Optional[Callable[[str], None]] = None

    # -- tags ----------------------------------------------------------------
    def current_tag(self) -> Optional[str]:
        """Tag for work submitted now: the msg_id of the cell being executed."""
        parent = self._current_parent()
        if not parent:
            return None
        msg_id = parent.get("header", {}).get("msg_id")
        if msg_id is None:
            return None
        with self.lock:
            if msg_id not in self.parents:
                self.parents[msg_id] = parent
                while len(self.parents) > MAX_CELLS:
                    old, _ = self.parents.popitem(last=False)
                    self.buckets.pop(old, None)
        return msg_id

    def _current_parent(self) -> Optional[Dict[str, Any]]:
        if self.kernel is None:
            return None
        try:
            return self.kernel.get_parent("shell")
        except TypeError:  # older ipykernel
            return getattr(self.kernel, "_parent_header", None)

    # -- output ---------------------------------------------------------------
    def sink(self, record: Dict[str, Any]) -> None:
        """The node's output sink: called on the node's I/O thread."""
        tag = record.get("tag")
        if isinstance(tag, str) and "#" in tag:  # attached driver: "attached:<id>#<cell>"
            tag = tag.split("#", 1)[1]
        parent = self.parents.get(tag) if tag is not None else None
        if record["stream"] == "display":
            self._send(parent, "display_data", {"data": json.loads(record["text"]),
                                                "metadata": {}, "transient": {}})
            return
        ip = record.get("ip")  # Ray names the node of a task that ran elsewhere
        prefix = (f"({record['task_name']} pid={record['pid']}, ip={ip}) " if ip
                  else f"({record['task_name']} pid={record['pid']}) ")
        lines = record["text"].splitlines(keepends=True)
        allowed = self._admit(tag or "", len(lines))
        if allowed < len(lines):
            lines = lines[:allowed]
        text = "".join(prefix + ln for ln in lines)
        if text and not text.endswith("\n"):
            text += "\n"
        note = self._drop_note(tag or "")
        if note:
            text += note
        self._schedule_late_note(tag or "", parent)
        if text:
            self._send(parent, "stream", {"name": "stderr" if record["stream"] == "stderr"
                                          else "stdout", "text": text})

    def _admit(self, tag: str, n: int) -> int:
        with self.lock:
            b = self.buckets.get(tag)
            if b is None:
                b = self.buckets[tag] = _Bucket()
            now = time.monotonic()
            b.tokens = min(BURST_LINES, b.tokens + (now - b.stamp) * LINES_PER_SECOND)
            b.stamp = now
            take = min(n, int(b.tokens))
            b.tokens -= take
            b.dropped += n - take
            return take

    def _drop_note(self, tag: str, now: bool = False) -> str:
        with self.lock:
            b = self.buckets.get(tag)
            if b is None or not b.dropped or (not now and time.monotonic() - b.reported < 1.0):
                return ""
            n, b.dropped, b.reported = b.dropped, 0, time.monotonic()
        return (f"[nbray] {n} lines of worker output were dropped (more than "
                f"{LINES_PER_SECOND} lines/s)\n")

    def _schedule_late_note(self, tag: str, parent: Optional[Dict[str, Any]]) -> None:
        """Lines dropped after the last note are reported once the flood is over."""
        with self.lock:
            b = self.buckets.get(tag)
            if b is None or not b.dropped or b.timer is not None:
                return
            b.timer = threading.Timer(1.05, self._late_note, args=(tag, parent))
            b.timer.name = "output-drop-note"
            b.timer.daemon = True
            b.timer.start()

    def _late_note(self, tag: str, parent: Optional[Dict[str, Any]]) -> None:
        with self.lock:
            b = self.buckets.get(tag)
            if b is not None:
                b.timer = None
        note = self._drop_note(tag)
        if note:
            self._send(parent, "stream", {"name": "stdout", "text": note})
        self._schedule_late_note(tag, parent)

    def _send(self, parent: Optional[Dict[str, Any]], msg_type: str, content: Dict[str, Any]) -> None:
        kernel = self.kernel
        if kernel is None or parent is None:
            self._fallback(msg_type, content)
            return
        try:
            ident = f"stream.{content['name']}".encode() if msg_type == "stream" else None
            kernel.session.send(kernel.iopub_socket, msg_type, content, parent=parent, ident=ident)
        except Exception:
            self._fallback(msg_type, content)

    @staticmethod
    def _fallback(msg_type: str, content: Dict[str, Any]) -> None:
        import sys

        if msg_type == "stream":
            stream = sys.stderr if content["name"] == "stderr" else sys.stdout
            stream.write(content["text"])
            stream.flush()
        else:
            sys.stdout.write(content["data"].get("text/plain", "") + "\n")

    # -- the end of a cell ----------------------------------------------------
    def cell_ended(self, result: Any = None) -> None:
        """IPython's post_run_cell, before the execute reply: report the cell's dropped
        lines now, so a headless run (which stops listening at the reply) keeps the note."""
        tag = self.current_tag()
        if tag is None:
            return
        if self._before_reply is not None:
            try:
                self._before_reply(tag)
            except Exception:  # never fail the user's cell over late output
                pass
        note = self._drop_note(tag, now=True)
        if note:
            self._send(self.parents.get(tag), "stream", {"name": "stdout", "text": note})

    def hook(self, before_reply: Optional[Callable[[str], None]] = None) -> None:
        """Listen to the shell's cell events (the extension calls this once loaded); a
        router of an earlier load stops listening.  `before_reply(tag)` runs at the end of
        each cell first (the backend lets output still on its way reach the cell)."""
        self._before_reply = before_reply
        OutputRouter.unhook(self.shell)
        events = getattr(self.shell, "events", None)
        if events is not None:
            events.register("post_run_cell", self.cell_ended)

    @staticmethod
    def unhook(shell: Any) -> None:
        """Stop every router listening to `shell`'s cell events."""
        events = getattr(shell, "events", None)
        if events is None:
            return
        callbacks = getattr(events, "callbacks", {}).get("post_run_cell", [])
        for callback in list(callbacks):
            if getattr(callback, "__func__", None) is OutputRouter.cell_ended:
                events.unregister("post_run_cell", callback)

    # -- interrupt ------------------------------------------------------------
    def on_interrupt(self, object_ids: Any) -> None:
        """Kernel > Interrupt during a blocking call: cancel the tasks making the objects
        it waited for, and everything this cell started; the stopped progress bar then
        says whether the rest was cancelled or keeps running."""
        from .progress_widget import settle_interrupted_bar

        if not self.cancel_on_interrupt:
            settle_interrupted_bar(cancelling=False)
            return
        from ..backends import current_port

        port = current_port()
        try:
            port.cancel_objects(object_ids)
            tag = self.current_tag()
            if tag is not None:
                port.cancel_cell(tag)
        finally:
            settle_interrupted_bar(cancelling=True)
