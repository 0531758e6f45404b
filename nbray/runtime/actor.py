"""Actor classes and handles: `@remote` on a class, `Cls.remote()`, `handle.method.remote()`."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any, Dict, List, Optional

from ..core.signatures import method_params, rebuild, signature_of
from ..core.specs import (ActorStart, resolve_num_returns, resource_demand, validate_actor_options,
                          validate_method_options)
from ..ids import actor_creation_task_id, ids
from ..serialization import dumps_function
from .context import client_or_init
from .context import namespace as current_namespace
from .object_ref import ObjectRef

# Methods every actor has, as in Ray; the worker runs them, not the user's class.
#   __ray_ready__      returns True once the constructor has run
#   __ray_terminate__  ends the actor gracefully after the calls queued before it
#   __ray_call__       runs fn(instance, *args, **kwargs) inside the actor
BUILTIN_METHODS = ("__ray_ready__", "__ray_terminate__", "__ray_call__")


class ActorExit(SystemExit):
    """Raised by `exit_actor()` (and `__ray_terminate__`) inside an actor method.

    A SystemExit, so `except Exception` in user code does not swallow it; the worker
    catches it, reports the intended exit to its node and ends the actor gracefully
    (`__ray_shutdown__`, then atexit handlers).
    """


def _method_table(cls: type) -> Dict[str, Dict[str, Any]]:
    """name -> {num_returns, is_async, params, ...} for every public or dunder-free method
    (inherited, static and class methods included; properties are not methods, as in Ray)."""
    table: Dict[str, Dict[str, Any]] = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("__") and name.endswith("__"):
            continue
        fn = member
        if not (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.ismethoddescriptor(fn)):
            continue
        opts = dict(getattr(fn, "__nbray_method_options__", {}))
        opts["is_async"] = inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
        opts["params"] = method_params(cls, name, fn)  # checked at .remote()
        opts["is_generator"] = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        resolve_num_returns(opts, opts["is_generator"], f"method {cls.__name__}.{name}")
        table[name] = opts
    return table


def bound_method(instance: Any, name: str) -> Any:
    """Method `name` of an actor instance, looked up on its class: an instance attribute of
    the same name (`self.step = 0` in __init__) never hides the method, as in Ray."""
    cls = type(instance)
    for klass in cls.__mro__:
        attr = klass.__dict__.get(name, _MISSING)
        if attr is not _MISSING:
            get = getattr(type(attr), "__get__", None)
            return get(attr, instance, cls) if get is not None else attr
    return getattr(instance, name)  # provided by a __getattr__ of the class


_MISSING = object()


class ActorClass:
    """A class whose instances live in their own worker process (actors)."""

    def __init__(self, cls: type, options: Dict[str, Any]) -> None:
        self._cls = cls
        self._options = validate_actor_options(options, f"@remote on class {cls.__name__}")
        self._methods = _method_table(cls)
        self._blob: Optional[bytes] = None
        self._class_id: Optional[bytes] = None
        self._captured: List[bytes] = []
        self._registered: Dict[int, bytes] = {}
        self._signature = signature_of(cls)  # the constructor's, checked at .remote()
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__doc__ = cls.__doc__
        self.__module__ = cls.__module__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"Actors cannot be instantiated directly. Instead of "
                        f"'{self.__name__}()', use '{self.__name__}.remote()'.")

    def __getattr__(self, name: str) -> Any:
        # Class attributes, static and class methods stay reachable through the class's
        # name, as in Ray (whose actor class derives from the user's class): methods that
        # say `Counter.LIMIT` or `Counter.helper()` find the decorated name bound to this.
        cls = self.__dict__.get("_cls")
        if cls is None or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        return getattr(cls, name)

    def __mro_entries__(self, bases: tuple) -> tuple:
        raise TypeError(f"a class cannot inherit from the actor class {self.__name__}: "
                        f"inherit from the plain class and decorate the subclass with @remote")

    def __repr__(self) -> str:
        return f"<nbray actor class {self.__name__}>"

    def options(self, **options: Any) -> "ActorClass":
        merged = dict(self._options)
        merged.update(validate_actor_options(options, f"{self.__name__}.options()"))
        clone = ActorClass.__new__(ActorClass)
        clone.__dict__.update(self.__dict__)
        clone._options = merged
        return clone

    def _ensure_registered(self, client: Any) -> bytes:
        key = client.session
        cid = self._registered.get(key)
        if cid is not None:
            return cid
        if self._blob is None:
            ser = dumps_function(self._cls)
            self._blob = ser.meta
            self._captured = ser.contained_refs
            self._class_id = hashlib.blake2b(self._blob, digest_size=16).digest()
        cid = self._class_id
        assert cid is not None  # computed with the blob, above or by an earlier call
        client.register_function(cid, self._blob, self._captured)
        self._registered = {key: cid}
        return cid

    def remote(self, *args: Any, **kwargs: Any) -> "ActorHandle":
        if self._signature is not None:
            self._signature.check(args, kwargs, f"{self.__name__}.remote()")
        client = client_or_init()
        opts = self._options
        if opts.get("get_if_exists") and not opts.get("name"):
            raise ValueError(f"{self.__name__}.remote(): get_if_exists=True needs a name=..., "
                             f"the name the existing actor is looked up by")
        is_async = any(m["is_async"] for m in self._methods.values())
        concurrency = opts.get("max_concurrency") or (1000 if is_async else 1)
        cid = self._ensure_registered(client)
        # As in Ray: an actor that names no resources holds no CPU; one that names any
        # (GPUs, custom resources) also holds one CPU unless it sets num_cpus.
        specified = bool(opts.get("num_gpus")) or bool(opts.get("resources"))
        demand = resource_demand(opts, default_cpus=1 if specified else 0)
        new_actor_id = ids.actor_id()
        spec, refs, args_ref = client.build_spec(
            name=f"{self.__name__}.__init__", function_id=cid, args=args, kwargs=kwargs,
            num_returns=1, resources=demand, max_retries=0, retry_exceptions=False,
            kind="actor-create", task_id=actor_creation_task_id(new_actor_id))
        spec.actor_id = new_actor_id
        spec.log_name = self.__name__
        spec.actor = ActorStart(name=opts.get("name"), is_async=is_async)
        namespace = opts.get("namespace") or current_namespace()
        info = {"class_name": self.__name__, "methods": self._methods, "name": opts.get("name"),
                "namespace": namespace, "lifetime": opts.get("lifetime"),
                "get_if_exists": opts.get("get_if_exists", False),
                "max_restarts": opts.get("max_restarts", 0),
                "max_task_retries": opts.get("max_task_retries", 0),
                "max_concurrency": concurrency}
        actor_id, handle_info = client.create_actor(spec, info)
        creation = refs[0]
        if actor_id != spec.actor_id:
            # get_if_exists found a live actor: our spec was never registered.
            creation = ObjectRef(handle_info["creation_object"])
        del args_ref
        return ActorHandle(actor_id, handle_info, creation)


class ActorHandle:
    """A reference to one actor; call its methods with `handle.method.remote(...)`.

    Handles can be passed to tasks and other actors and pickled inside objects;
    the actor lives while any handle to it exists (unless it is detached).
    """

    def __init__(self, actor_id: bytes, info: Dict[str, Any], creation_ref: ObjectRef) -> None:
        self._actor_id = actor_id
        self._info = info
        self._creation_ref = creation_ref

    @property
    def _class_name(self) -> str:
        return self._info["class_name"]

    def __dir__(self) -> List[str]:
        # The actor's methods too (as Ray's handles list them): tab completion in a notebook.
        methods = self.__dict__.get("_info", {}).get("methods", {})
        return sorted(set(super().__dir__()) | set(methods))

    def __getattr__(self, name: str) -> "ActorMethod":
        methods = self.__dict__.get("_info", {}).get("methods", {})
        if name in methods:
            return ActorMethod(self, name, methods[name])
        if name in BUILTIN_METHODS and "_info" in self.__dict__:
            return ActorMethod(self, name, {"is_async": False})
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"actor class '{self._info.get('class_name', '?')}' has no method "
                             f"'{name}'; its methods are: {', '.join(sorted(methods)) or 'none'}")

    def __reduce__(self):
        return (ActorHandle, (self._actor_id, self._info, self._creation_ref))

    def __repr__(self) -> str:
        return f"Actor({self._class_name}, {self._actor_id.hex()})"

    def __hash__(self) -> int:
        return hash(self._actor_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def _repr_html_(self) -> str:
        import html

        return (f"<code>Actor(<b>{html.escape(self._class_name)}</b>, "
                f"{self._actor_id.hex()})</code>")

    def _actor_id_hex(self) -> str:
        return self._actor_id.hex()


class ActorMethod:
    """One method of an actor, reached through its handle: `handle.method.remote(...)`."""

    def __init__(self, handle: ActorHandle, name: str, options: Dict[str, Any]) -> None:
        self._handle = handle
        self._name = name
        self._options = options

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"Actor methods cannot be called directly. Instead of "
                        f"'{self._name}()', use '{self._name}.remote()'.")

    def options(self, **options: Any) -> "ActorMethod":
        merged = dict(self._options)
        merged.update(validate_method_options(options, f"{self._name}.options()"))
        resolve_num_returns(merged, bool(merged.get("is_generator")), f"{self._name}.options()")
        return ActorMethod(self._handle, self._name, merged)

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Call the method: a ref, a list of refs (num_returns=N), None (num_returns=0), or an
        ObjectRefGenerator for a generator method (num_returns="streaming")."""
        from .remote_function import returned_refs

        handle = self._handle
        # A built-in method (__ray_ready__ ...) has no params here: it is checked where it runs.
        params = self._options.get("params")
        if params is not None:
            rebuild(params).check(args, kwargs, f"{handle._class_name}.{self._name}.remote()")
        client = client_or_init()
        num_returns = resolve_num_returns(self._options, bool(self._options.get("is_generator")),
                                          self._name)
        cls_name = handle._class_name
        spec, refs, args_ref = client.build_spec(
            name=f"{cls_name}.{self._name}", function_id=b"", args=args, kwargs=kwargs,
            num_returns=1 if isinstance(num_returns, str) else num_returns, resources={},
            max_retries=0, retry_exceptions=False,
            kind="actor-call", actor_id=handle._actor_id, method=self._name)
        spec.log_name = cls_name
        if isinstance(num_returns, str):
            spec.generator = num_returns
            spec.backpressure = \
                self._options.get("_generator_backpressure_num_objects") or 0
        client.submit(spec)
        del args_ref
        return returned_refs(num_returns, refs, client)
