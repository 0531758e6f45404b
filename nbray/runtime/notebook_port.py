"""The notebook layer's door into a backend: output and progress events, interrupts, cancel.

`nbray.jupyter` (magics, output routing, progress widgets, the inspector) reaches the
runtime through two doors only: the Ray-compatible facade (`nbray.api`: init, get,
remote, memory, nodes, ...) and this module, which carries what Ray's API has no words
for, and the reads the notebook shows (objects, nodes, the cluster's summary).
`NotebookPort` lists them.  `LocalPort` here has the runtime's half for nbray's own
runtime (output, cancel); `nbray.backends.LocalBackend` adds the reads, which go through
the facade, and `nbray.ray_backend.port.RayPort` answers all of it from a real Ray
cluster.  `current_port()` is the one in use; `nbray.backends.select_port()` picks it when
the extension loads.

The notebook registers its hooks here instead of setting attributes of runtime objects,
and the runtime fires the events the notebook listens for (`report_interrupt`).
"""

from __future__ import annotations

from typing import (AbstractSet, Any, Callable, Dict, Iterable, List, Optional, Protocol,
                    Set)

from . import context, progress
from .progress import ProgressRenderer, TextProgress
from .remote_cell import run_cell

OutputSink = Callable[[Dict[str, Any]], None]
TagProvider = Callable[[], Optional[str]]
ProgressFactory = Callable[[int, str], Optional[ProgressRenderer]]
InterruptHandler = Callable[[Iterable[bytes]], None]


class HolderNames(Protocol):
    """What the notebook calls the holders of objects, as of one look at its namespace."""

    def names(self, object_id: bytes) -> List[str]:
        """Names holding a ref to the object ("keep_me", "objs['o137']", "Out[11]")."""

    def matching(self, text: str) -> Set[bytes]:
        """Ids of the objects with a holder name containing `text`."""

    def named(self) -> AbstractSet[bytes]:
        """Ids of the objects some name holds."""

    def sort_key(self, object_id: bytes) -> Any:
        """What a sort by holder compares for a named object."""


HolderProvider = Callable[[], HolderNames]


class NotebookPort(Protocol):
    """What the notebook layer needs from a backend beyond the Ray-compatible API."""

    def route_output(self, sink: OutputSink, cell_tag: TagProvider) -> None:
        """Send task output to `sink` (a dict per chunk: stream, text, task name, tag...),
        and tag the tasks submitted from now on with `cell_tag()` (the running cell)."""

    def on_interrupt(self, handler: Optional[InterruptHandler]) -> None:
        """Call `handler(object_ids)` when Ctrl-C / Kernel > Interrupt stops a blocking call
        waiting for those objects (None: no handler)."""

    def render_progress(self, factory: Optional[ProgressFactory]) -> None:
        """Draw the progress of long waits with `factory(total, label)` (None: as text)."""

    def label_cells(self, labeler: Optional[Callable[[str], Optional[str]]]) -> None:
        """Name code by cell ("In [3]") in remote tracebacks: file name -> label or None."""

    def name_holders(self, provider: Optional[HolderProvider]) -> None:
        """Name the holders of objects in object rows (`held_by`) with `provider()`, called
        once per listing (None: no names)."""

    def cancel_objects(self, object_ids: Iterable[bytes]) -> None:
        """Cancel the tasks that make these objects, and the tasks they started."""

    def cancel_cell(self, tag: str) -> None:
        """Cancel every task a cell started (all tasks carrying its tag)."""

    # -- what the notebook shows -----------------------------------------------------
    name: str  # "nbray" or "ray": which backend this is

    def is_initialized(self) -> bool:
        """Whether the backend's cluster is up in this process."""

    def memory(self, **kwargs: Any) -> Any:
        """A page of objects and the node rows (`nbray.memory()`'s arguments and answer)."""

    def cluster_summary(self) -> Dict[str, Any]:
        """Nodes, CPUs, workers, objects and store of the cluster (the status display)."""

    def nodes(self) -> List[Dict[str, Any]]:
        """The backend's own rows per node (`%nbray nodes`)."""

    def ref_types(self) -> tuple:
        """The ObjectRef class(es) the notebook's namespace walk looks for."""

    def remote_cell(self, options: Dict[str, Any]) -> Any:
        """The %%remote cell function as a remote function with these options (num_cpus,
        resources, node: a node id to run on)."""

    def get(self, refs: List[Any], timeout: Optional[float]) -> List[Any]:
        """The values of refs, with progress and interrupt handling."""

    def cluster_id(self) -> Optional[str]:
        """An id of the cluster connection now (None: none), so the extension can tell
        whether the one it started still runs."""

    def shutdown(self) -> None:
        """Stop the cluster this process started (or leave the one it joined)."""

    def cell_ended(self, tag: Optional[str]) -> None:
        """The cell with this tag ended: let output still on its way reach it."""

    def release(self) -> None:
        """The notebook layer leaves this backend: undo what its hooks installed."""

    # Whether the extension starts this backend's cluster after installing the hooks
    # (Ray: its workers get the output routing's setup hook at ray.init) or before.
    start_after_hooks: bool

    def start(self) -> None:
        """Start (or connect to) the backend's cluster, as `init()` with no arguments."""


class BasePort:
    """What every backend's port does the same way: the notebook's hooks (interrupt
    handler, progress renderer, cell labels, holder names) live in this module."""

    def on_interrupt(self, handler: Optional[InterruptHandler]) -> None:
        global _interrupt_handler
        _interrupt_handler = handler

    def render_progress(self, factory: Optional[ProgressFactory]) -> None:
        progress.set_progress_renderer(factory)

    def label_cells(self, labeler: Optional[Callable[[str], Optional[str]]]) -> None:
        global _cell_labeler
        _cell_labeler = labeler

    def name_holders(self, provider: Optional[HolderProvider]) -> None:
        global _holder_provider
        _holder_provider = provider

    def cell_ended(self, tag: Optional[str]) -> None:
        return None

    def release(self) -> None:
        return None


class LocalPort(BasePort):
    """`NotebookPort` for nbray's own runtime: the driver in the current slot."""

    name = "nbray"

    def route_output(self, sink: OutputSink, cell_tag: TagProvider) -> None:
        driver = _driver()
        if driver.node is not None:
            driver.node.output_sink = sink
            driver.client.tag_provider = cell_tag
            return
        # Attached to a cluster elsewhere: the head sends our tasks' output back to us,
        # tagged with the cell that started them.
        client = driver.client
        client.output_sink = sink

        def tag() -> str:  # the base tag, not the last hook's: %reload_ext routes again
            cell = cell_tag()
            return client.cell_tag(cell) if cell else client.base_tag()

        client.tag_provider = tag

    def label_cells(self, labeler: Optional[Callable[[str], Optional[str]]]) -> None:
        from ..serialization import set_filename_labeler

        set_filename_labeler(labeler)  # tracebacks pickled here name cells too
        super().label_cells(labeler)

    def cancel_objects(self, object_ids: Iterable[bytes]) -> None:
        from ..ids import task_id_of

        driver = context.current_driver()
        if driver is None:
            return
        task_ids = list(dict.fromkeys(task_id_of(oid) for oid in object_ids))
        if driver.node is None and driver.attached is not None:
            driver.attached.client.cancel_tasks(task_ids, False, True)  # one round trip
            return
        for task_id in task_ids:
            driver.client.cancel(task_id, False, True)

    def cancel_cell(self, tag: str) -> None:
        driver = context.current_driver()
        if driver is None:
            return
        if driver.node is not None:
            driver.node.cancel_tagged(tag, force=False)
        elif driver.attached is not None:  # the head cancels our cell's tasks (by its tag)
            driver.attached.client.cancel_cell(tag)


def _driver() -> context.Driver:
    driver = context.current_driver()
    if driver is None:
        raise RuntimeError("nbray is not initialized in this kernel: call nbray.init() first")
    return driver


_port: Any = LocalPort()  # the runtime's half until nbray.backends adds the reads
_interrupt_handler: Optional[InterruptHandler] = None
_cell_labeler: Optional[Callable[[str], Optional[str]]] = None
_holder_provider: Optional[HolderProvider] = None


def current_port() -> NotebookPort:
    """The backend the notebook layer talks to."""
    return _port


def set_port(port: NotebookPort) -> None:
    """Make `port` the backend the notebook layer talks to (nbray.backends chooses it)."""
    global _port
    _port = port


def report_interrupt(object_ids: Iterable[bytes]) -> None:
    """Called by the runtime with the ids a blocking call was waiting for when Ctrl-C
    arrived; the notebook's handler cancels the work its cell started."""
    handler = _interrupt_handler
    if handler is not None:
        try:
            handler(object_ids)
        except Exception:  # never mask the KeyboardInterrupt
            pass


def holder_names() -> Optional[HolderNames]:
    """The notebook's names for object holders now, or None (no notebook, or it failed:
    a listing never fails because of the names)."""
    provider = _holder_provider
    if provider is None:
        return None
    try:
        return provider()
    except Exception:
        return None


def label_call_site(call_site: str) -> str:
    """A call site "file:line" as "In [n] line k" when the file is a notebook cell."""
    labeler = _cell_labeler
    if labeler is None or not call_site:
        return call_site
    filename, sep, line = call_site.rpartition(":")
    label = labeler(filename) if sep else None
    return f"{label} line {line}" if label else call_site


# What a %%remote cell runs on a worker, and the text progress bar a widget falls back to.
CELL_TASK = run_cell
TEXT_PROGRESS = TextProgress

__all__ = ["BasePort", "CELL_TASK", "HolderNames", "HolderProvider", "LocalPort",
           "NotebookPort", "TEXT_PROGRESS", "current_port", "holder_names", "label_call_site",
           "report_interrupt", "set_port"]
