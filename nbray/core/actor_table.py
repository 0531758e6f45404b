"""The actor table: actor records, named actors, per-caller call queues and the restart policy.

A pure state machine (no sockets, threads, processes or clocks; time is passed in).
The node's actor shell (`runtime/actor_manager.py`) turns what happens into events,
calls the matching ``on_*`` method here, and performs the instructions it gets back,
in order.  The table's state is complete before any instruction runs, so an
instruction that leads back into the table (failing a call can free the creation
object of another actor) finds it consistent.

Calls wait in one queue per caller (the spec's owner) and are forwarded once their
arguments exist, so a caller's calls run in the order it made them, while a call
whose argument is still being computed holds back only later calls of the same
caller (as in Ray), never another caller's.

Actor states, as Ray names them::

    PENDING_CREATION --constructor done--> ALIVE
    PENDING_CREATION / ALIVE --worker exited, restarts left--> RESTARTING --constructor done--> ALIVE
    any --constructor raised / restarts exhausted / kill(no_restart) / exit_actor()
        / out of scope after its queued calls--> DEAD

Worker handles are opaque to the table (the type parameter ``W``): it stores and
returns them, and never looks inside.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Generic, List, Literal, NamedTuple, Optional, Set, Tuple, TypeVar, Union

from .. import exceptions as exc
from .specs import ActorStart, TaskSpec

ActorState = Literal["PENDING_CREATION", "ALIVE", "RESTARTING", "DEAD"]
PENDING_CREATION: ActorState = "PENDING_CREATION"
ALIVE: ActorState = "ALIVE"
RESTARTING: ActorState = "RESTARTING"
DEAD: ActorState = "DEAD"

# Every state change the table makes, and the events that make it (docs/architecture.md
# shows the same table).  A change not listed is a bug in the table: `move_state` refuses it.
TRANSITIONS: Dict[Tuple[ActorState, ActorState], str] = {
    (PENDING_CREATION, ALIVE): "constructor done",
    (RESTARTING, ALIVE): "constructor done on the new worker",
    (PENDING_CREATION, RESTARTING): "kill() or worker exited, restarts left",
    (ALIVE, RESTARTING): "kill() or worker exited, restarts left",
    (RESTARTING, RESTARTING): "kill() or worker exited again before the constructor finished",
    (PENDING_CREATION, DEAD): "constructor raised or cannot run; kill(); worker exited, no "
                              "restarts left; out of scope; exit_actor()",
    (ALIVE, DEAD): "kill(no_restart=True); worker exited, no restarts left; out of scope "
                   "after its calls; exit_actor()",
    (RESTARTING, DEAD): "constructor raised; kill(no_restart=True); out of scope",
}

W = TypeVar("W")

MAX_DEAD_ACTORS = 1_000
"""Dead actors no handle can reach any more that the table keeps (for `rows()`, i.e.
list_actors and the dashboard); the oldest beyond this are forgotten, so a program that
creates actors forever holds a bounded table (about 4 kB each).  A dead actor that a live
handle can still call is always kept: its calls fail with the cause of its death."""

# A task result row as workers report it: (object id, kind, payload, size, contains,
# is_error, type name).  The table only passes it on.
Result = Tuple[Any, ...]


@dataclass(eq=False)
class ActorRecord(Generic[W]):
    """One actor: its options, state, worker, and the calls it owes."""

    actor_id: bytes
    class_name: str
    create_spec: TaskSpec
    name: Optional[str] = None
    namespace: str = "default"
    detached: bool = False
    max_restarts: int = 0
    max_task_retries: int = 0
    max_concurrency: int = 1
    methods: Dict[str, Any] = field(default_factory=dict)
    state: ActorState = PENDING_CREATION
    worker: Optional[W] = None
    node_id: Optional[str] = None      # the node of its (last) worker
    restarts: int = 0
    # caller (the spec's owner) -> its calls not yet forwarded, in submission order;
    # a caller with none has no entry.
    queues: Dict[str, Deque[TaskSpec]] = field(default_factory=dict)
    in_flight: Dict[bytes, TaskSpec] = field(default_factory=dict)
    out_of_scope: bool = False
    no_restart: bool = False
    dying: bool = False                # killed: its process is about to exit
    death_cause: str = ""
    pid: Optional[int] = None
    created_at: float = 0.0

    @property
    def creation_object(self) -> bytes:
        return self.create_spec.return_ids[0]

    def queued(self) -> List[TaskSpec]:
        return [spec for q in self.queues.values() for spec in q]

    def unqueue(self, spec: TaskSpec) -> bool:
        q = self.queues.get(spec.owner)
        if q is None or spec not in q:
            return False
        q.remove(spec)
        if not q:
            del self.queues[spec.owner]
        return True

    def label(self) -> str:
        return f"{self.class_name}" + (f" '{self.name}'" if self.name else "") + \
            f" (actor {self.actor_id.hex()})"

    def handle_info(self) -> Dict[str, Any]:
        """What a handle to this actor needs (sent to whoever creates or looks it up)."""
        return {"class_name": self.class_name, "methods": self.methods,
                "creation_object": self.creation_object,
                "max_task_retries": self.max_task_retries}


# -- instructions (what the shell must do) --------------------------------------------
class Forward(NamedTuple):
    """Send `spec` (a call, or the constructor) to the actor's worker."""
    worker: Any
    spec: TaskSpec


class FailCall(NamedTuple):
    """The call (or constructor) ends with `error` as its result."""
    spec: TaskSpec
    error: BaseException


class CompleteCall(NamedTuple):
    """The call ran: store its results and end it."""
    spec: TaskSpec
    results: List[Result]


class StoreCreation(NamedTuple):
    """The constructor ran: store its results (the creation object becomes ready)."""
    spec: TaskSpec
    results: List[Result]


class EndCreation(NamedTuple):
    """The actor is dead: end its creation task if it is still open, stop pinning the
    creation object, and give it `error` if it never got a value."""
    spec: TaskSpec
    error: BaseException


class ReleaseWorker(NamedTuple):
    """Give back the resources the worker holds, if it still holds any."""
    worker: Any


class KillWorker(NamedTuple):
    """Kill the worker's process (SIGKILL)."""
    worker: Any


class StopWorker(NamedTuple):
    """Ask the worker to exit after what it is running (the ``exit`` message)."""
    worker: Any


class CancelForwarded(NamedTuple):
    """Tell the worker to skip a call it was sent, if it has not started it."""
    worker: Any
    task_id: bytes


class StartActors(NamedTuple):
    """An actor waits for a worker in `start_queue`: run the dispatcher."""


class CountRestart(NamedTuple):
    """An actor is restarting (node statistics)."""


Instruction = Union[Forward, FailCall, CompleteCall, StoreCreation, EndCreation, ReleaseWorker,
                    KillWorker, StopWorker, CancelForwarded, StartActors, CountRestart]


class ActorTable(Generic[W]):
    """Every actor of the cluster, its names, queues and restart decisions.

    Attributes read by the shell and by introspection: ``actors`` (id -> record),
    ``by_creation_object`` (creation object id -> actor id, until the object is freed),
    ``start_queue`` (records waiting for a worker, oldest first).
    """

    def __init__(self, describe_error: Callable[[Result], str],
                 max_dead: int = MAX_DEAD_ACTORS) -> None:
        # The text of the error in a failed constructor's result (reading it means
        # deserializing, which the shell knows how to do).
        self.describe_error = describe_error
        self.max_dead = max_dead
        # Dead actors whose creation object is freed (no handle left), oldest first: only
        # `max_dead` of them stay in `actors`.
        self.retired: Deque[bytes] = collections.deque()
        self.actors: Dict[bytes, ActorRecord[W]] = {}
        self.by_creation_object: Dict[bytes, bytes] = {}
        self.names: Dict[Tuple[str, str], bytes] = {}
        self.start_queue: Deque[ActorRecord[W]] = collections.deque()
        # calls queued whose arguments do not exist yet (task ids)
        self.waiting_args: Set[bytes] = set()

    # -- creation -----------------------------------------------------------------
    def claim_name(self, info: Dict[str, Any]) -> Optional[ActorRecord[W]]:
        """Check the name a new actor asks for.

        Returns the live actor already under that name when ``get_if_exists`` is set
        (the caller gets a handle to it instead), else None.

        Raises:
            ValueError: the name is taken in its namespace by a live actor.
        """
        name, namespace = info.get("name"), info.get("namespace") or "default"
        if name is None:
            return None
        existing = self.lookup(name, namespace)
        if existing is None:
            return None
        if info.get("get_if_exists"):
            return existing
        raise ValueError(f"the actor name {name!r} is already taken in namespace "
                         f"{namespace!r} by {existing.label()}; pick another name, or pass "
                         f"get_if_exists=True to get a handle to it")

    def add(self, spec: TaskSpec, info: Dict[str, Any], now: float) -> ActorRecord[W]:
        """Register a new actor (its name already claimed) in PENDING_CREATION."""
        name, namespace = info.get("name"), info.get("namespace") or "default"
        assert spec.actor_id is not None
        record: ActorRecord[W] = ActorRecord(
            actor_id=spec.actor_id, class_name=info["class_name"], create_spec=spec, name=name,
            namespace=namespace, detached=info.get("lifetime") == "detached",
            max_restarts=info.get("max_restarts", 0), max_task_retries=info.get("max_task_retries", 0),
            max_concurrency=info.get("max_concurrency", 1), methods=info.get("methods", {}),
            created_at=now)
        self.actors[record.actor_id] = record
        self.by_creation_object[record.creation_object] = record.actor_id
        if name is not None:
            self.names[(namespace, name)] = record.actor_id
        return record

    def on_creation_args_ready(self, actor_id: bytes) -> List[Instruction]:
        """The constructor's arguments exist: the actor waits for a worker."""
        record = self.actors.get(actor_id)
        if record is None or record.state == DEAD:
            return []
        self.start_queue.append(record)
        return [StartActors()]

    def on_creation_failed(self, actor_id: bytes, cause: str) -> List[Instruction]:
        """The constructor can never run (an argument was freed; the shell failed it)."""
        record = self.actors.get(actor_id)
        if record is None or record.state == DEAD:
            return []
        return self._mark_dead(record, cause)

    def next_to_start(self) -> Optional[ActorRecord[W]]:
        """The actor first in line for a worker (dead ones leave the line)."""
        queue = self.start_queue
        while queue:
            if queue[0].state != DEAD:
                return queue[0]
            queue.popleft()
        return None

    def on_worker_assigned(self, actor_id: bytes, worker: W, pid: Optional[int],
                           node_id: str) -> List[Instruction]:
        """`worker` (resources already taken) runs the actor: it leaves the start line and
        its constructor is sent."""
        record = self.actors[actor_id]
        if self.start_queue and self.start_queue[0] is record:
            self.start_queue.popleft()
        else:
            self.start_queue.remove(record)
        record.worker, record.pid, record.node_id = worker, pid, node_id
        spec = record.create_spec
        start = spec.actor = spec.actor or ActorStart()
        start.max_concurrency = record.max_concurrency
        # The worker's runtime context reads these (was_current_actor_reconstructed).
        start.restarts = record.restarts
        start.handle_info = record.handle_info()
        return [Forward(worker, record.create_spec)]

    def on_created(self, actor_id: bytes, results: List[Result]) -> List[Instruction]:
        """The constructor finished (its results say whether it raised)."""
        record = self.actors.get(actor_id)
        if record is None:
            return []
        error = self.describe_error(results[0]) if results and results[0][5] else None
        out: List[Instruction] = [StoreCreation(record.create_spec, results)]
        if record.state == DEAD:  # it ended while the constructor ran: DEAD is final
            if error is not None and record.worker is not None:
                out.append(KillWorker(record.worker))
            return out
        if error is not None:
            record.no_restart = True
            worker = record.worker
            out += self._mark_dead(record, f"its constructor raised:\n{error}")
            if worker is not None:
                out.append(KillWorker(worker))
        elif not record.dying:  # (a killed one stays RESTARTING until it is back)
            move_state(record, ALIVE)
            out += self._pump(record)
        return out

    # -- calls ------------------------------------------------------------------------
    def on_call_submitted(self, spec: TaskSpec) -> List[Instruction]:
        """A call arrived (already registered by the shell).

        Returns [] when it was queued (the shell then reports `on_call_args_ready`
        once its arguments exist), or the instruction that fails it.
        """
        record = self.actors.get(spec.actor_id) if spec.actor_id is not None else None
        if record is None:
            actor_hex = spec.actor_id.hex() if spec.actor_id is not None else "?"
            return [FailCall(spec, exc.ActorDiedError(
                f"actor {actor_hex} is unknown to this cluster (it was never "
                f"created here, or the cluster was restarted)", actor_hex))]
        if record.state == DEAD:
            return [FailCall(spec, self._died_error(record))]
        # In its caller's queue at once, so the caller's calls keep their order; forwarded
        # when their arguments exist.
        self.waiting_args.add(spec.task_id)
        queue = record.queues.get(spec.owner)
        if queue is None:
            queue = record.queues[spec.owner] = collections.deque()
        queue.append(spec)
        return []

    def on_call_args_ready(self, spec: TaskSpec) -> List[Instruction]:
        """The call's arguments exist: forward its caller's calls as far as possible."""
        self.waiting_args.discard(spec.task_id)
        out: List[Instruction] = []
        record = self.actors.get(spec.actor_id)  # type: ignore[arg-type]
        if record is not None:
            worker = record.worker
            if record.state == ALIVE and worker is not None and not record.dying:
                self._pump_caller(record, worker, spec.owner, out)
        return out

    def on_call_dropped(self, spec: TaskSpec) -> None:
        """An argument of the queued call was freed; the shell failed the call."""
        self.waiting_args.discard(spec.task_id)
        record = self.actors.get(spec.actor_id)  # type: ignore[arg-type]
        if record is not None:
            record.unqueue(spec)

    def _pump(self, record: ActorRecord[W]) -> List[Instruction]:
        """Forward each caller's queued calls in order, as far as their arguments exist."""
        out: List[Instruction] = []
        worker = record.worker
        if record.state != ALIVE or worker is None or record.dying:
            return out
        for who in list(record.queues):
            self._pump_caller(record, worker, who, out)
        return out

    def _pump_caller(self, record: ActorRecord[W], worker: W, caller: str,
                     out: List[Instruction]) -> None:
        """Forward `caller`'s queued calls in order, up to the first whose arguments do
        not exist yet (the actor is ALIVE on `worker`)."""
        queue = record.queues.get(caller)
        if queue is None:
            return
        waiting = self.waiting_args
        while queue and queue[0].task_id not in waiting:
            spec = queue.popleft()
            record.in_flight[spec.task_id] = spec
            out.append(Forward(worker, spec))
        if not queue:
            del record.queues[caller]

    def on_done(self, actor_id: Optional[bytes], task_id: bytes,
                results: List[Result]) -> List[Instruction]:
        """The actor's worker finished `task_id`: its constructor, or a forwarded call."""
        record = self.actors.get(actor_id) if actor_id is not None else None
        if record is None:
            return []
        spec = record.in_flight.pop(task_id, None)
        if spec is None:
            if task_id == record.create_spec.task_id:
                return self.on_created(record.actor_id, results)
            return []
        out: List[Instruction] = [CompleteCall(spec, results)]
        if record.out_of_scope:
            out += self._maybe_end(record)
        return out

    def cancel(self, spec: TaskSpec) -> List[Instruction]:
        """Cancel a call: one not forwarded yet fails with TaskCancelledError; a forwarded
        one is only skipped by the worker if not started (as in Ray, whose sync actors
        only set a flag)."""
        record = self.actors.get(spec.actor_id)  # type: ignore[arg-type]
        if record is None:
            return []
        if record.unqueue(spec):
            self.waiting_args.discard(spec.task_id)
            return [FailCall(spec, exc.TaskCancelledError(spec.task_id.hex()))]
        if spec.task_id in record.in_flight and record.worker is not None:
            return [CancelForwarded(record.worker, spec.task_id)]
        return []

    # -- lifetime -------------------------------------------------------------------
    def on_creation_object_freed(self, object_id: bytes) -> List[Instruction]:
        """No handle to the actor is left anywhere: it ends after its queued calls
        (a detached actor lives on until killed)."""
        actor_id = self.by_creation_object.pop(object_id, None)
        if actor_id is None:
            return []
        record = self.actors.get(actor_id)
        if record is None:
            return []
        if record.state == DEAD:
            self._retire(record)
            return []
        if record.detached:
            return []
        record.out_of_scope = True
        return self._maybe_end(record)

    def _maybe_end(self, record: ActorRecord[W]) -> List[Instruction]:
        if not record.out_of_scope or record.queues or record.in_flight or record.state == DEAD:
            return []
        record.no_restart = True
        worker = record.worker
        out = self._mark_dead(record, "all handles to it went out of scope")
        if worker is not None:
            out.append(StopWorker(worker))
        return out

    def on_exit_requested(self, actor_id: Optional[bytes], reason: str) -> List[Instruction]:
        """The actor called exit_actor() (or ran __ray_terminate__): it is dead for good.

        As in Ray, the call that asked, and every call queued after it, fail with
        ActorDiedError; the worker runs __ray_shutdown__ and atexit handlers, then exits.
        """
        record = self.actors.get(actor_id) if actor_id is not None else None
        if record is None or record.state == DEAD:
            return []
        record.no_restart = True
        return self._mark_dead(record, f"it exited on purpose ({reason})")

    def kill(self, actor_id: bytes, no_restart: bool, closed: bool) -> List[Instruction]:
        """nbray.kill(): the process dies now; the actor restarts unless `no_restart`
        (or its restarts are used up, or the node is `closed`)."""
        record = self.actors.get(actor_id)
        if record is None or record.state == DEAD:
            return []
        record.no_restart = record.no_restart or no_restart
        record.death_cause = "it was killed by nbray.kill()"
        if record.worker is None:
            if record.state != RESTARTING or record.no_restart:
                return self._mark_dead(record, record.death_cause)
            return []
        # Calls made from now on wait (for the restarted actor, or to fail with the dead
        # one) instead of going to the process about to die.
        record.dying = True
        if self._can_restart(record, closed):
            move_state(record, RESTARTING)
        return [KillWorker(record.worker)]

    def _can_restart(self, record: ActorRecord[W], closed: bool) -> bool:
        return not record.no_restart and not closed and (
            record.max_restarts == -1 or record.restarts < record.max_restarts)

    def on_worker_exited(self, actor_id: bytes, worker: W, pid: Optional[int], how: str,
                         closed: bool) -> List[Instruction]:
        """The actor's worker process ended (`how`: "was killed by SIGKILL" ...).

        With restarts left the actor restarts: calls that were running are sent again
        (before their caller's later calls) if max_task_retries allows, else fail with
        ActorDiedError.  Otherwise the actor is dead and every call it owes fails.
        """
        record = self.actors.get(actor_id)
        if record is None or record.state == DEAD:
            return []
        out: List[Instruction] = [ReleaseWorker(worker)]
        record.worker = None
        record.dying = False
        cause = record.death_cause or f"its worker process (pid {pid}) {how}"
        if not self._can_restart(record, closed):
            out += self._mark_dead(record, cause)
            return out
        record.restarts += 1
        move_state(record, RESTARTING)
        record.death_cause = ""
        out.append(CountRestart())
        retry: List[TaskSpec] = []
        for spec in record.in_flight.values():
            if record.max_task_retries == -1 or spec.attempt < record.max_task_retries:
                spec.attempt += 1
                retry.append(spec)
            else:
                out.append(FailCall(spec, exc.ActorDiedError(
                    f"{record.label()} died while running {spec.name}() ({cause}); the actor "
                    f"restarted, but max_task_retries={record.max_task_retries} does not allow "
                    f"re-running the call", record.actor_id.hex(), record.name or "", cause)))
        record.in_flight.clear()
        for spec in reversed(retry):  # before the caller's later calls
            queue = record.queues.get(spec.owner)
            if queue is None:
                queue = record.queues[spec.owner] = collections.deque()
            queue.appendleft(spec)
        self.start_queue.append(record)
        out.append(StartActors())
        return out

    def _mark_dead(self, record: ActorRecord[W], cause: str) -> List[Instruction]:
        move_state(record, DEAD)
        record.death_cause = cause
        error = self._died_error(record)
        out: List[Instruction] = []
        for spec in list(record.in_flight.values()) + record.queued():
            self.waiting_args.discard(spec.task_id)
            out.append(FailCall(spec, error))
        record.in_flight.clear()
        record.queues.clear()
        if record.name is not None and self.names.get((record.namespace, record.name)) == record.actor_id:
            del self.names[(record.namespace, record.name)]
        out.append(EndCreation(record.create_spec, error))
        if record.worker is not None:
            out.append(ReleaseWorker(record.worker))
        if record.creation_object not in self.by_creation_object:
            self._retire(record)
        return out

    def _retire(self, record: ActorRecord[W]) -> None:
        """`record` is dead and no handle can reach it: it is kept among the last
        `max_dead` such actors, then forgotten."""
        retired = self.retired
        retired.append(record.actor_id)
        while len(retired) > self.max_dead:
            self.actors.pop(retired.popleft(), None)

    def _died_error(self, record: ActorRecord[W]) -> exc.ActorDiedError:
        return exc.ActorDiedError(f"The actor {record.label()} died: {record.death_cause}",
                                  record.actor_id.hex(), record.name or "", record.death_cause)

    # -- lookup -----------------------------------------------------------------------
    def lookup(self, name: str, namespace: str) -> Optional[ActorRecord[W]]:
        """The live actor under `name` in `namespace`, if any."""
        actor_id = self.names.get((namespace, name))
        record = self.actors.get(actor_id) if actor_id else None
        return record if record is not None and record.state != DEAD else None

    def rows(self) -> List[Dict[str, Any]]:
        """One row per actor (list_actors / the dashboard): every live one, every dead one
        a handle can still reach, and the last `max_dead` others."""
        return [{"actor_id": r.actor_id.hex(), "class_name": r.class_name, "name": r.name,
                 "namespace": r.namespace, "state": r.state, "restarts": r.restarts,
                 "node_id": r.node_id if r.worker is not None else None, "pid": r.pid,
                 "detached": r.detached, "pending_calls": sum(map(len, r.queues.values())) + len(r.in_flight),
                 "death_cause": r.death_cause or None}
                for r in self.actors.values()]


def move_state(record: ActorRecord[W], state: ActorState) -> None:
    if (record.state, state) not in TRANSITIONS:
        raise AssertionError(f"actor table bug: {record.label()} cannot go from "
                             f"{record.state} to {state}")
    record.state = state
