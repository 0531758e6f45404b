"""@remote functions: `.remote()` submits a task, `.options()` makes a re-configured copy."""

from __future__ import annotations

import hashlib
import functools
import inspect
from typing import Any, Dict, List, Optional

from ..core.signatures import signature_of
from ..core.specs import resource_demand, resolve_num_returns, validate_task_options
from ..serialization import dumps_function
from .context import client_or_init
from .object_ref import ObjectRef

DEFAULT_MAX_RETRIES = 3


class RemoteFunction:
    """A function that runs as a task on the cluster's workers."""

    def __init__(self, function: Any, options: Dict[str, Any]) -> None:
        if not callable(function):
            raise TypeError(f"@remote needs a function or a class, got {type(function).__name__}")
        if inspect.iscoroutinefunction(function):
            # As in Ray: a task is a plain call; an async actor runs coroutines instead.
            raise ValueError(f"@remote on 'async def {_name(function)}': a remote task cannot be a "
                             f"coroutine function. Call asyncio.run() on it inside a plain "
                             f"function, or make it a method of an actor (async actors run "
                             f"coroutines).")
        self._function = function
        self._options = validate_task_options(options, f"@remote on {_name(function)}")
        if self._options.get("num_gpus") and self._options.get("max_calls") is None:
            # As in Ray: a GPU function's worker exits after each call, which frees the GPU
            # memory that libraries keep cached (decorator only, not .options()).
            self._options["max_calls"] = 1
        self._name = self._options.get("name") or _name(function)
        self._is_generator = is_generator_function(function)
        resolve_num_returns(self._options, self._is_generator, f"@remote on {self._name}")
        self._registered: Dict[int, bytes] = {}   # client.session -> function id
        self._blob: Optional[bytes] = None
        self._function_id: Optional[bytes] = None
        self._captured: List[bytes] = []
        # Checked at every .remote(): a wrong call fails in the caller, as in Ray.
        self._signature = signature_of(function)
        self._per_call: Optional[tuple] = None  # what every .remote() derives from the options
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"Remote functions cannot be called directly. Instead of running "
                        f"'{self._name}()', try '{self._name}.remote()'.")

    def __repr__(self) -> str:
        return f"<nbray remote function {self._name}>"

    def options(self, **options: Any) -> "RemoteFunction":
        """A copy with some options changed; takes the same options as @remote."""
        merged = dict(self._options)
        merged.update(validate_task_options(options, f"{self._name}.options()"))
        resolve_num_returns(merged, self._is_generator, f"{self._name}.options()")
        clone = RemoteFunction.__new__(RemoteFunction)
        clone.__dict__.update(self.__dict__)
        clone._options = merged
        clone._name = merged.get("name") or self._name
        clone._per_call = None
        return clone

    def _call_options(self) -> tuple:
        """(num_returns, resources, max_retries, retry_exceptions as sent, backpressure,
        max_calls): derived once per function and options, not at every call.  The
        resources dict is shared by the specs, which never change it."""
        if self._per_call is None:
            opts = self._options
            self._per_call = (
                resolve_num_returns(opts, self._is_generator, self._name), resource_demand(opts),
                opts.get("max_retries", DEFAULT_MAX_RETRIES),
                packed_retry_exceptions(opts.get("retry_exceptions", False)),
                opts.get("_generator_backpressure_num_objects") or 0, opts.get("max_calls") or 0)
        return self._per_call

    def _ensure_registered(self, client: Any) -> bytes:
        key = client.session
        fid = self._registered.get(key)
        if fid is not None:
            return fid
        if self._blob is None:
            ser = dumps_function(self._function)
            self._blob = ser.meta
            self._captured = ser.contained_refs  # closure-captured refs: pinned for the job
            self._function_id = hashlib.blake2b(self._blob, digest_size=16).digest()
        fid = self._function_id
        assert fid is not None  # computed with the blob, above or by an earlier call
        client.register_function(fid, self._blob, self._captured)
        self._registered = {key: fid}
        return fid

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Submit the task: a ref, a list of refs (num_returns=N), None (num_returns=0), or
        an ObjectRefGenerator for a generator function (num_returns="streaming")."""
        if self._signature is not None:
            self._signature.check(args, kwargs, f"{self._name}.remote()")
        client = client_or_init()
        fid = self._ensure_registered(client)
        num_returns, resources, max_retries, retry_exceptions, backpressure, max_calls = \
            self._per_call or self._call_options()
        spec, refs, args_ref = client.build_spec(
            name=self._name, function_id=fid, args=args, kwargs=kwargs,
            num_returns=1 if isinstance(num_returns, str) else num_returns,
            resources=resources, max_retries=max_retries, retry_exceptions=retry_exceptions)
        if isinstance(num_returns, str):
            spec.generator = num_returns
            spec.backpressure = backpressure
        if max_calls:  # 0: no limit
            spec.max_calls = max_calls
        client.submit(spec)
        del args_ref  # the pending task keeps the argument object alive from here on
        return returned_refs(num_returns, refs, client)

    def bind(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("DAG building with .bind() is not supported by nbray")


def is_generator_function(function: Any) -> bool:
    """Whether calling `function` makes a generator (sync or async): Ray streams its values."""
    return inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)


def returned_refs(num_returns: Any, refs: List[ObjectRef], client: Any) -> Any:
    """What .remote() hands back for `num_returns` (shared by tasks and actor methods)."""
    if num_returns == "streaming":
        from .generators import ObjectRefGenerator

        return ObjectRefGenerator(refs[0], client)
    if num_returns == 1 or num_returns == "dynamic":
        return refs[0]
    if num_returns == 0:
        return None
    return refs


def _name(function: Any) -> str:
    return getattr(function, "__name__", None) or type(function).__name__


__all__ = ["RemoteFunction"]


@functools.lru_cache(maxsize=128)
def _pack_classes(classes: tuple) -> bytes:
    return dumps_function(classes).meta


def packed_retry_exceptions(retry: Any) -> Any:
    """retry_exceptions as it travels: True/False as is, a list of exception classes pickled
    by value (a class defined in a function or a notebook cannot be pickled by reference on
    the node's wire); the worker unpacks it (worker._should_retry)."""
    if isinstance(retry, (list, tuple)):
        return _pack_classes(tuple(retry))
    return retry
