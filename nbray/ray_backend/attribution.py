"""Which notebook cell a Ray log batch belongs to: pure bookkeeping, no Ray, no I/O.

The shell (`output_routing.py`) feeds in what it learns -- submissions from the driver
(task id -> cell tag, task name), links from workers (child task -> parent task) and the
log batches Ray's log monitor publishes -- and gets back sink records
({"stream", "text", "task_name", "pid", "ip", "tag"}).

Exact attribution: a batch whose task_name carries nbray's marker (`<name>\\x1f<task id>`,
see ray_private.py) belongs to the cell that submitted that task, or for a nested task
the cell that submitted its root (followed through the links).  A marked batch whose
task is not known yet (its link line, printed by the parent's worker, may arrive a
little after the child's output) waits up to `link_wait_s`; later batches of the same
task wait behind it, so a task's lines keep their order.  Then it falls back to:

By-name attribution (batches without a marker: Ray started before nbray's hook, or
output written below Python's sys.stdout, e.g. by C code or a subprocess): the cell
that most recently submitted a task of that name (an actor's batches: its class name,
which is Ray's actor_name unless the class defines __repr__).  What can go wrong:
two cells running tasks of the same name at once -- the older cell's output lands under
the newer cell; a task that prints after a later cell submitted the same function too;
an actor with a custom __repr__ or an unknown name -- the cell running now.

Ray's system lines (pid "raylet", "gcs_server", ...) go to the cell running now, on
stderr.  Batches of other jobs are dropped.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

SEP = "\x1f"
LINK_PREFIX = ":nbray_link:"
INFO_PREFIX = ":info_message:"  # Ray's raylet lines meant for the user: shown without it
MAX_TASKS = 50_000  # task ids remembered (~250 bytes each); older ones go by name
MAX_PER_NAME = 8

Record = Dict[str, Any]
_UNKNOWN = object()


def parse_marker(task_name: str) -> Tuple[str, Optional[str]]:
    """(name, task id hex or None) from a batch's task_name."""
    name, sep, task_id = task_name.rpartition(SEP)
    if not sep or not task_id:
        return task_name, None
    return name, task_id


def parse_link(line: str) -> Optional[Tuple[str, str]]:
    """(child, parent) task ids from a link line, None for an ordinary line."""
    if not line.startswith(LINK_PREFIX):
        return None
    parts = line[len(LINK_PREFIX):].split()
    return (parts[0], parts[1]) if len(parts) == 2 else None


def is_worker_pid(pid: Any) -> bool:
    return isinstance(pid, int) or (isinstance(pid, str) and pid.isdigit())


class Attributor:
    """Task -> cell bookkeeping and batch -> record decisions."""

    def __init__(self, link_wait_s: float = 1.0, max_tasks: int = MAX_TASKS) -> None:
        self.link_wait_s = link_wait_s
        self.max_tasks = max_tasks
        self.tags: "collections.OrderedDict[str, Optional[str]]" = collections.OrderedDict()
        self.parents: "collections.OrderedDict[str, str]" = collections.OrderedDict()
        self.by_name: Dict[str, Deque[Tuple[float, Optional[str]]]] = {}
        # (deadline, task id, batch) in arrival order
        self.pending: List[Tuple[float, str, Dict[str, Any]]] = []

    # -- what the shell learns -------------------------------------------------------
    def submitted(self, task_id: str, tag: Optional[str], name: str, now: float) -> None:
        """The driver submitted `task_id` (named `name`) while cell `tag` ran."""
        self.tags[task_id] = tag
        _trim(self.tags, self.max_tasks)
        if name:
            recent = self.by_name.setdefault(name, collections.deque(maxlen=MAX_PER_NAME))
            recent.append((now, tag))

    def linked(self, child: str, parent: str) -> None:
        """A task submitted `child` from inside task `parent`."""
        self.parents[child] = parent
        _trim(self.parents, self.max_tasks)

    def cell_of(self, task_id: str) -> Any:
        """The cell tag of a task's root submission; `_UNKNOWN` when not known (yet)."""
        seen = 0
        while seen < 64:  # a chain longer than this is a loop in bad data
            tag = self.tags.get(task_id, _UNKNOWN)
            if tag is not _UNKNOWN:
                return tag
            parent = self.parents.get(task_id)
            if parent is None:
                return _UNKNOWN
            task_id, seen = parent, seen + 1
        return _UNKNOWN

    def tag_of(self, task_id: str) -> Optional[str]:
        tag = self.cell_of(task_id)
        return None if tag is _UNKNOWN else tag

    def by_task_name(self, name: str) -> Any:
        recent = self.by_name.get(name)
        return recent[-1][1] if recent else _UNKNOWN

    # -- batches -----------------------------------------------------------------------
    def feed(self, batch: Dict[str, Any], now: float, job_id: Optional[str],
             current_tag: Callable[[], Optional[str]]) -> List[Record]:
        """Records ready to send for one of Ray's log batches (and for earlier batches it
        released); a batch waiting for its task's link is kept."""
        job = batch.get("job") or ""
        if job and job_id and job != job_id:
            return []
        lines = [str(line) for line in batch.get("lines") or []]
        kept = []
        for line in lines:
            link = parse_link(line)
            if link is None:
                kept.append(line)
            else:
                self.linked(*link)
        ready = self.release(now, current_tag) if self.pending else []  # links, submissions
        if not kept:
            return ready
        batch = {**batch, "lines": kept}
        if not is_worker_pid(batch.get("pid")):
            ready.append(_record(batch, "ray", current_tag(), stream="stderr"))
            return ready
        _, task_id = parse_marker(str(batch.get("task_name") or ""))
        waiting = task_id is not None and any(t == task_id for _, t, _ in self.pending)
        if task_id is not None and (waiting or self.cell_of(task_id) is _UNKNOWN):
            self.pending.append((now + self.link_wait_s, task_id, batch))
            return ready
        ready.append(self._decide(batch, current_tag))
        return ready

    def release(self, now: float, current_tag: Callable[[], Optional[str]],
                everything: bool = False) -> List[Record]:
        """Records of waiting batches whose task became known or whose wait is over
        (all of them when `everything`)."""
        out: List[Record] = []
        keep: List[Tuple[float, str, Dict[str, Any]]] = []
        blocked = set()
        for deadline, task_id, batch in self.pending:
            known = self.cell_of(task_id) is not _UNKNOWN
            if task_id not in blocked and (known or everything or deadline <= now):
                out.append(self._decide(batch, current_tag))
            else:
                blocked.add(task_id)  # later batches of the task wait behind this one
                keep.append((deadline, task_id, batch))
        self.pending = keep
        return out

    def next_deadline(self) -> Optional[float]:
        return min((d for d, _, _ in self.pending), default=None)

    def _decide(self, batch: Dict[str, Any], current_tag: Callable[[], Optional[str]]) -> Record:
        name, task_id = parse_marker(str(batch.get("task_name") or ""))
        actor = str(batch.get("actor_name") or "")
        tag: Any = _UNKNOWN
        if task_id is not None:
            tag = self.cell_of(task_id)
        if tag is _UNKNOWN:
            key = actor or name
            tag = self.by_task_name(key) if key else _UNKNOWN
            if tag is _UNKNOWN and actor and name:  # marker name "A.m": the class is "A"
                tag = self.by_task_name(name.split(".", 1)[0])
        if tag is _UNKNOWN:
            tag = current_tag()
        return _record(batch, actor or name, tag)


def _record(batch: Dict[str, Any], task_name: str, tag: Optional[str],
            stream: Optional[str] = None) -> Record:
    lines = [ln.split(INFO_PREFIX, 1)[1] if INFO_PREFIX in ln else ln for ln in batch["lines"]]
    pid = batch.get("pid")
    ip = batch.get("ip") or None
    if ip is not None and ip == batch.get("localhost"):
        ip = None  # as Ray prints it: the node is named only when it is not this one
    return {
        "stream": stream or ("stderr" if batch.get("is_err") else "stdout"),
        "text": "\n".join(lines) + "\n",
        "task_name": task_name,
        "pid": int(pid) if isinstance(pid, str) and pid.isdigit() else pid,
        "ip": ip,
        "tag": tag,
    }


def _trim(table: "collections.OrderedDict[str, Any]", limit: int) -> None:
    while len(table) > limit:
        table.popitem(last=False)
