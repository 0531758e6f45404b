"""Lineage: how the head rebuilds objects whose only copy was on a node that was lost.

A task that ran on another node and left outputs only in that node's shared memory keeps
its spec here (and so its arguments alive) while those outputs live.  When the node is
lost, each such output is rebuilt by re-running the task, recursively through its
arguments; objects made by put() there, and outputs of a task that is not known or has
run out of retries, become errors that say why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from .. import exceptions as exc
from ..core import object_directory
from ..core.object_table import SHM, ObjectEntry
from ..core.specs import TaskSpec
from ..ids import is_put_object, task_id_of
from .node_streams import lineage_ids

if TYPE_CHECKING:  # pragma: no cover
    from .node import Node


class Lineage:
    """The specs of finished tasks whose outputs only other nodes hold, by task id."""

    def __init__(self, node: "Node") -> None:
        self.node = node
        self.specs: Dict[bytes, TaskSpec] = {}
        # Generator tasks run by another node, by task id: (items yielded, whether any
        # lives only in that node's memory).  Kept with the spec; dropped when the task
        # ends without lineage or its spec is forgotten.
        self.items: Dict[bytes, Tuple[int, bool]] = {}

    def __len__(self) -> int:
        return len(self.specs)

    def keep(self, spec: TaskSpec) -> bool:
        """Keep a finished task's spec (and its arguments alive) while its outputs live only
        in shared memory of other nodes, so they can be rebuilt if a node is lost."""
        if spec.kind != "task":
            return False
        self.specs[spec.task_id] = spec
        return True

    def note_item(self, task_id: bytes, index: int, remote: bool) -> None:
        """A generator task running on another node yielded item `index` (`remote`: it
        lives only in that node's shared memory)."""
        any_remote = self.items.get(task_id, (0, False))[1]
        self.items[task_id] = (index, any_remote or remote)

    def remote_items(self, task_id: bytes) -> bool:
        """Whether an item the task yielded lives only in another node's memory."""
        made = self.items.get(task_id)
        return made is not None and made[1]

    def discard_items(self, task_id: bytes) -> None:
        """The generator task ended and its spec is not kept: forget its items."""
        self.items.pop(task_id, None)

    def _ids(self, spec: TaskSpec) -> List[bytes]:
        made = self.items.get(spec.task_id)
        return lineage_ids(spec, made[0] if made is not None else 0)

    def drop(self, object_id: bytes) -> None:
        """The object was freed: once no output of its task is left, forget the task."""
        spec = self.specs.get(task_id_of(object_id))
        if spec is None:
            return
        if all(rid not in self.node.table.entries for rid in self._ids(spec)):
            del self.specs[spec.task_id]
            self.items.pop(spec.task_id, None)
            freed: List[ObjectEntry] = []
            self.node.table.add_submitted(spec.all_refs(), -1, freed)
            self.node.objects.release(freed)

    def rebuild_or_fail(self, entry: ObjectEntry, node_id: str) -> None:
        """`entry`'s only copy was on `node_id`, which was lost: re-run its task, or make it
        an error that says why it cannot be."""
        node = self.node
        if entry.state != SHM:
            return  # already being rebuilt (an earlier output of the same task)
        if is_put_object(entry.object_id):
            self._lose(entry, f"it was created by put() on node {node_id[:12]}, which was lost; "
                              f"objects made by put() cannot be rebuilt")
            return
        spec = self.specs.get(task_id_of(entry.object_id))
        if spec is None:
            self._lose(entry, f"its only copy was on node {node_id[:12]}, which was lost, and "
                              f"the task that made it is not known here")
            return
        if spec.max_retries != -1 and spec.attempt >= spec.max_retries:
            err = exc.ObjectReconstructionFailedMaxAttemptsExceededError(
                entry.object_id.hex(), f"its only copy was on node {node_id[:12]}, which was lost, "
                f"and {spec.name}() already ran {spec.attempt + 1} time(s) (max_retries="
                f"{spec.max_retries})")
            self._lose(entry, "", err)
            return
        spec.attempt += 1
        node.stats["reconstructions"] += 1
        del self.specs[spec.task_id]   # its argument holds pass to the re-run
        for rid in self._ids(spec):   # a generator task's items too
            e = node.table.entries.get(rid)
            if e is not None and e.state == SHM and e.offset < 0 and not e.copies:
                object_directory.lost(node.table, e)
        node.tasks.rerun(spec)

    def _lose(self, entry: ObjectEntry, reason: str, error: Optional[BaseException] = None) -> None:
        err = error or exc.ObjectLostError(entry.object_id.hex(), reason)
        from ..serialization import serialize

        object_directory.lost(self.node.table, entry)
        payload = (serialize(err, context="error").meta, ())
        self.node.objects.make_ready(entry, inline=payload, size=len(payload[0]), is_error=True)


__all__ = ["Lineage"]
