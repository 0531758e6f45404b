"""The wire protocol, defined once: one typed record per message, registered with its op.

Every message between a node and its workers (over the socketpairs the node
creates), between the head and its node agents (over an authenticated websocket)
and between an attached driver and its node (it speaks the worker protocol) is a
record here: a `typing.NamedTuple` of the message's fields, registered with its
kebab-case op name and its channel.  An op is unique within its channel ("cancel"
from a worker asks the node to cancel a task; "cancel" to a worker says its task was).

A message travels as the plain tuple `wire(record)` = `(op, *fields)`, and so do
the values inside messages (`Result`, `Descriptor`): a pickled NamedTuple would
carry its class, which costs a lookup on each side of every message, several times
the cost of the tuple (docs/protocol.md has the numbers).  A request has a request
id `req` as its first field and is answered by one `Reply`.  Receiving is
`dispatch.py`'s job; `protocol_doc.py` renders the table of docs/protocol.md.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Literal, NamedTuple, Optional, Tuple, Type, TypeVar

from ..core.object_directory import (KIND_ARENA, KIND_FILE, KIND_INLINE, ArenaBlock, Descriptor,
                                     DescriptorTuple, InlineValue, ResultTuple, SpillFile,
                                     TaskResult, ValueKind)
from ..core.specs import TaskSpec

Channel = Literal["worker->node", "node->worker", "agent->head", "head->agent"]
CHANNELS: Tuple[Channel, ...] = ("worker->node", "node->worker", "agent->head", "head->agent")


WireMessage = Tuple[Any, ...]                   # (op, *fields): what travels

# The values inside messages are defined once, with the objects they describe
# (core/object_directory.py); `Result` is this protocol's name for a TaskResult.
Result = TaskResult


# =============================================================================
# the registry
# =============================================================================
class MessageInfo(NamedTuple):
    """What the protocol says about one message."""

    op: str
    record: type
    channel: Channel
    request: bool             # first field is `req`; answered by one Reply
    reply: str                # what the Reply's value is (requests only)


_BY_RECORD: Dict[type, MessageInfo] = {}
_BY_CHANNEL: Dict[str, Dict[str, MessageInfo]] = {c: {} for c in CHANNELS}

R = TypeVar("R")


def message(op: str, channel: Channel, reply: str = "") -> Callable[[Type[R]], Type[R]]:
    """Register a record as the message `op` of `channel`; `reply` (what the answer holds)
    makes it a request."""

    def register(record: Type[R]) -> Type[R]:
        fields: Tuple[str, ...] = getattr(record, "_fields", ())
        if op in _BY_CHANNEL[channel]:
            raise ValueError(f"op {op!r} is defined twice on channel {channel}")
        if reply and fields[:1] != ("req",):
            raise ValueError(f"request {op!r} must have `req` as its first field")
        info = MessageInfo(op, record, channel, bool(reply), reply)
        _BY_RECORD[record] = info
        _BY_CHANNEL[channel][op] = info
        return record

    return register


def op_of(record: type) -> str:
    """The op name of a record type (KeyError for a type that is not a message)."""
    return _BY_RECORD[record].op


def info_of(record: type) -> MessageInfo:
    """What the protocol says about a record type (KeyError for a type that is not one)."""
    return _BY_RECORD[record]


def is_record_type(record: type) -> bool:
    return record in _BY_RECORD


def channel_ops(channel: Channel) -> Dict[str, MessageInfo]:
    """op -> message, for one channel (read only)."""
    return _BY_CHANNEL[channel]


def wire(msg: NamedTuple) -> WireMessage:
    """The tuple that travels for a record: (op, *fields)."""
    return (_BY_RECORD[type(msg)].op,) + msg


def messages(channel: Optional[Channel] = None) -> List[MessageInfo]:
    """Every message (of one channel), in definition order."""
    if channel is not None:
        return list(_BY_CHANNEL[channel].values())
    return [info for c in CHANNELS for info in _BY_CHANNEL[c].values()]


# =============================================================================
# worker -> node (also an attached driver -> its node; relayed in FromWorker)
# =============================================================================
WORKER_TO_NODE: Channel = "worker->node"


@message("ready", WORKER_TO_NODE)
class Ready(NamedTuple):
    """The worker process started and takes tasks."""

    pid: int


@message("ready-driver", WORKER_TO_NODE)
class ReadyDriver(NamedTuple):
    """An attached driver announces itself: a member of the cluster that never runs tasks."""

    pid: int


@message("refs", WORKER_TO_NODE)
class Refs(NamedTuple):
    """Refs the sender started and stopped holding (batched; sent before any later message)."""

    adds: List[bytes]
    removes: List[bytes]


@message("unpin", WORKER_TO_NODE)
class Unpin(NamedTuple):
    """Zero-copy views of these arena objects were released (batched)."""

    oids: List[bytes]


@message("stream-release", WORKER_TO_NODE)
class StreamRelease(NamedTuple):
    """The sender dropped its generators of these tasks: unread items are freed (batched)."""

    task_ids: List[bytes]


@message("put", WORKER_TO_NODE)
class Put(NamedTuple):
    """A small value put() by the sender, bytes included."""

    oid: bytes
    payload: InlineValue
    size: int
    contains: List[bytes]
    type_name: str
    call_site: str = ""


@message("alloc", WORKER_TO_NODE,
         reply="the block's offset; ok=False: \"too-large\" (write it to the spill target) "
               "or ObjectStoreFullError / ObjectSpillError")
class Alloc(NamedTuple):
    """Reserve an arena block of `size` bytes for object `oid` (a node agent answers it
    itself, from its own arena)."""

    req: int
    oid: bytes
    size: int


@message("free-block", WORKER_TO_NODE)
class FreeBlock(NamedTuple):
    """Give back an allocated block that was never sealed (writing it failed)."""

    offset: int
    size: int


@message("seal", WORKER_TO_NODE)
class Seal(NamedTuple):
    """A value put() by the sender was written into the block at `offset`: it is ready."""

    oid: bytes
    offset: int
    block: int
    size: int
    contains: List[bytes]
    type_name: str
    call_site: str = ""


@message("seal-spilled", WORKER_TO_NODE)
class SealSpilled(NamedTuple):
    """A value put() by the sender, larger than the whole store, was written to `url`."""

    oid: bytes
    url: str
    block: int
    size: int
    contains: List[bytes]
    type_name: str
    call_site: str = ""


@message("get", WORKER_TO_NODE,
         reply="one Descriptor per id, once all are on the sender's node (the sender's CPUs "
               "are lent meanwhile); ok=False: the error (ObjectLostError ...)")
class Get(NamedTuple):
    """get() inside a task: where the values are."""

    req: int
    oids: List[bytes]


@message("get-cancel", WORKER_TO_NODE)
class GetCancel(NamedTuple):
    """The sender stopped waiting for request `req` (timeout, interrupt): no reply."""

    req: int


@message("wait", WORKER_TO_NODE,
         reply="the ids that are ready (at least num_returns of them, unless `block` is "
               "false)")
class Wait(NamedTuple):
    """wait() inside a task."""

    req: int
    oids: List[bytes]
    num_returns: int
    block: bool


@message("submit", WORKER_TO_NODE)
class Submit(NamedTuple):
    """A task (or actor call) submitted from inside a task."""

    spec: TaskSpec


@message("register-function", WORKER_TO_NODE)
class RegisterFunction(NamedTuple):
    """The pickled function `fid`, before the first task of it is submitted; `captured`:
    refs its closure holds (kept alive as long as the function)."""

    fid: bytes
    blob: bytes
    captured: List[bytes]


@message("cancel", WORKER_TO_NODE, reply="None; ok=False: ValueError (force on an actor task)")
class Cancel(NamedTuple):
    """cancel() inside a task."""

    req: int
    task_id: bytes
    force: bool
    recursive: bool


@message("cancel-tagged", WORKER_TO_NODE, reply="how many tasks were cancelled")
class CancelTagged(NamedTuple):
    """An attached driver's notebook cell was interrupted: cancel every unfinished task
    carrying `tag` ("attached:<driver>#<cell>", so nested tasks too); only the sender's
    own tags are honoured."""

    req: int
    tag: str
    force: bool


@message("create-actor", WORKER_TO_NODE,
         reply="(actor id, handle info); ok=False: the error (name taken, unschedulable)")
class CreateActor(NamedTuple):
    """Create an actor from inside a task; `info` is its options (name, namespace,
    max_restarts ...)."""

    req: int
    spec: TaskSpec
    info: Dict[str, Any]


@message("kill-actor", WORKER_TO_NODE)
class KillActor(NamedTuple):
    """kill() of an actor from inside a task."""

    actor_id: bytes
    no_restart: bool


@message("get-actor", WORKER_TO_NODE, reply="(actor id, handle info), or None if no such actor")
class GetActor(NamedTuple):
    """get_actor() inside a task."""

    req: int
    name: str
    namespace: str


@message("query", WORKER_TO_NODE,
         reply="the JSON-able answer of runtime/queries.py; ok=False: the error")
class Query(NamedTuple):
    """A read-only question about the cluster (nodes(), timeline() ...); `op` names it."""

    req: int
    op: str
    args: Dict[str, Any]


@message("log", WORKER_TO_NODE)
class Log(NamedTuple):
    """Whole lines of output of the running task; `stream`: "stdout", "stderr" or
    "display" (`text` is then a JSON mime bundle)."""

    stream: str
    text: str
    task_name: str
    task_id: Optional[bytes]


@message("done", WORKER_TO_NODE)
class Done(NamedTuple):
    """A task ended: its results (errors included), whether to retry it (retry_exceptions),
    and its start and end times (for timeline())."""

    task_id: bytes
    results: List[ResultTuple]
    retry: bool
    timing: Optional[Tuple[float, float]] = None


@message("yield", WORKER_TO_NODE)
class Yield(NamedTuple):
    """A generator task yielded its item number `item_no` (1-based; the item's object id is
    the task id + item_no)."""

    task_id: bytes
    item_no: int
    result: ResultTuple


@message("stream-next", WORKER_TO_NODE,
         reply="(\"item\", object id), (\"end\", None) or (\"pending\", None) (only if `block` "
               "is false)")
class StreamNext(NamedTuple):
    """next() on a generator's ref; `take`: hand the item over (the sender holds it now)."""

    req: int
    task_id: bytes
    take: bool
    block: bool


@message("stream-wait", WORKER_TO_NODE, reply="(ready object ids, ready generator task ids)")
class StreamWait(NamedTuple):
    """wait() on a mix of objects and generators."""

    req: int
    object_ids: List[bytes]
    task_ids: List[bytes]
    num_returns: int
    block: bool


@message("stream-room", WORKER_TO_NODE, reply="None, once the caller has taken `need` items")
class StreamRoom(NamedTuple):
    """Backpressure: a generator task waits until its caller took `need` items."""

    req: int
    task_id: bytes
    need: int


@message("actor-exit", WORKER_TO_NODE)
class ExitActor(NamedTuple):
    """The actor called exit_actor() (or ran __ray_terminate__) in task `task_id`: it is
    dead, with no restart; the worker then runs __ray_shutdown__ and leaves."""

    task_id: bytes
    reason: str


# =============================================================================
# node -> worker (and -> an attached driver)
# =============================================================================
NODE_TO_WORKER: Channel = "node->worker"


@message("secrets", NODE_TO_WORKER)
class Secrets(NamedTuple):
    """Always the first message to a new worker: spill credentials (kept out of its env)."""

    secrets: Dict[str, Any]


@message("exec", NODE_TO_WORKER)
class Exec(NamedTuple):
    """Run a task: `blob` is its pickled function the first time this worker runs it (else
    None); `deps` says where each argument's value is."""

    spec: TaskSpec
    blob: Optional[bytes]
    deps: List[Tuple[bytes, DescriptorTuple]]


@message("reply", NODE_TO_WORKER)
class Reply(NamedTuple):
    """The answer to request `req`: `value`, or with ok=False the error to raise (or a
    string code the request documents)."""

    req: int
    ok: bool
    value: Any


@message("cancel", NODE_TO_WORKER)
class CancelRunning(NamedTuple):
    """Task `task_id` was cancelled: not started yet, it fails with TaskCancelledError;
    running, it is interrupted if `interrupt` (false for an actor call, as in Ray)."""

    task_id: bytes
    interrupt: bool = True


@message("exit", NODE_TO_WORKER)
class Exit(NamedTuple):
    """Leave: an idle worker above the pool size, max_calls reached, or an actor killed
    gracefully (it runs __ray_shutdown__ first)."""


@message("log", NODE_TO_WORKER)
class Output(NamedTuple):
    """To an attached driver: output of a task it started (the record its output sink
    prints: stream, text, task_name, pid, worker_id, task_id, owner, tag, node_id)."""

    record: Dict[str, Any]


# =============================================================================
# node agent -> head
# =============================================================================
AGENT_TO_HEAD: Channel = "agent->head"



@message("register", AGENT_TO_HEAD)
class Register(NamedTuple):
    """First message of a joining node (or attached driver, `kind` "driver"): its
    resources, where it serves its objects, and its store's capacity."""

    node_id: str
    resources: Dict[str, float]
    object_url: str
    hostname: str
    pid: int
    capacity: int
    kind: str = "node"


@message("heartbeat", AGENT_TO_HEAD)
class Heartbeat(NamedTuple):
    """Every second: the node is alive; its store's use, and what its spill target holds
    (objects larger than its store that its workers wrote there)."""

    used: int
    capacity: int
    spilled_bytes: int = 0
    spilled_objects: int = 0


@message("w", AGENT_TO_HEAD)
class FromWorker(NamedTuple):
    """A message of one of the node's workers (or of its attached driver), relayed: `msg`
    is a worker->node message as it travels."""

    worker_id: str
    msg: WireMessage


@message("worker-exit", AGENT_TO_HEAD)
class WorkerExit(NamedTuple):
    """A worker of the node exited (`code`: its exit status, None if unknown)."""

    worker_id: str
    code: Optional[int]


@message("fetched", AGENT_TO_HEAD)
class Fetched(NamedTuple):
    """A Fetch ended: the copy is at `offset`, or (offset -1) it failed with `error`;
    `kind` "full" (no room: not retried) or "transfer" (retried)."""

    oid: bytes
    offset: int
    block: int
    error: Optional[str]
    kind: Optional[str] = None


@message("make-room", AGENT_TO_HEAD)
class MakeRoom(NamedTuple):
    """The node's store is full: free about `size` bytes of copies there, then answer Room
    with the same `key`."""

    key: int
    size: int


# =============================================================================
# head -> node agent
# =============================================================================
HEAD_TO_AGENT: Channel = "head->agent"


@message("registered", HEAD_TO_AGENT)
class Registered(NamedTuple):
    """The head accepted the node."""

    head_node_id: str


@message("to", HEAD_TO_AGENT)
class ToWorker(NamedTuple):
    """Pass `msg` (a node->worker message as it travels) on to worker `worker_id`."""

    worker_id: str
    msg: WireMessage


@message("signal", HEAD_TO_AGENT)
class Signal(NamedTuple):
    """Send signal `signum` to a worker process of the node (force-cancel, kill)."""

    worker_id: str
    signum: int


@message("free", HEAD_TO_AGENT)
class Free(NamedTuple):
    """Free a block of the node's arena (a copy or a result nobody holds any more)."""

    offset: int
    block: int


@message("fetch", HEAD_TO_AGENT)
class Fetch(NamedTuple):
    """Pull object `oid` (`block` bytes) from `src_offset` of the object server at `src_url`
    into the node's arena; answered by Fetched."""

    oid: bytes
    block: int
    src_url: str
    src_offset: int


@message("room", HEAD_TO_AGENT)
class Room(NamedTuple):
    """The answer to MakeRoom `key`: whatever could be freed was."""

    key: int


@message("shutdown", HEAD_TO_AGENT)
class Shutdown(NamedTuple):
    """The head is shutting down: stop the workers and leave for good."""


__all__ = [
    "CHANNELS", "Channel", "MessageInfo", "message", "op_of", "info_of", "messages", "wire",
    "is_record_type", "channel_ops", "WireMessage", "Result", "Descriptor",
    "ResultTuple", "DescriptorTuple", "InlineValue", "ArenaBlock", "SpillFile", "TaskResult",
    "ValueKind", "KIND_INLINE", "KIND_ARENA", "KIND_FILE",
    "Ready", "ReadyDriver", "Refs", "Unpin", "StreamRelease", "Put", "Alloc", "FreeBlock",
    "Seal", "SealSpilled", "Get", "GetCancel", "Wait", "Submit", "RegisterFunction", "Cancel",
    "CancelTagged", "CreateActor", "KillActor", "GetActor", "Query", "Log", "Done", "Yield", "StreamNext",
    "StreamWait", "StreamRoom", "ExitActor", "Secrets", "Exec", "Reply", "CancelRunning",
    "Exit", "Output", "Register", "Heartbeat", "FromWorker", "WorkerExit", "Fetched",
    "MakeRoom", "Registered", "ToWorker", "Signal", "Free", "Fetch", "Room", "Shutdown",
]
