"""Call signatures of remote functions and actor methods, checked when `.remote()` is called.

A wrong call (a missing argument, one too many, an unknown keyword) raises TypeError in
the caller at once, as Ray does, instead of failing later inside a worker.  Signatures are
computed once per function or actor class; actor handles carry a small picklable
description of each method's parameters (`describe`), so a handle that travelled to
another process (or came from `get_actor`) checks calls just as well.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any, Callable, Dict, Optional, Tuple

# (name, kind as int, has a default): enough to rebuild a signature that binds like the real
# one, without pickling default values (which may be anything, unpicklable included).
ParamsDescription = Tuple[Tuple[str, int, bool], ...]

_KINDS = {int(k): k for k in (inspect.Parameter.POSITIONAL_ONLY,
                              inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.KEYWORD_ONLY,
                              inspect.Parameter.VAR_KEYWORD)}


class _AnyDefault:
    """Stands for any default value: bind() only asks whether there is one."""

    def __repr__(self) -> str:
        return "..."


_DEFAULT = _AnyDefault()


class CallSignature:
    """A signature with a fast path: a call with positional arguments only, as many as the
    positional parameters allow, fits without asking inspect (the common `f.remote(x)`)."""

    __slots__ = ("signature", "_min_pos", "_max_pos")

    def __init__(self, signature: inspect.Signature) -> None:
        P = inspect.Parameter
        self.signature = signature
        params = list(signature.parameters.values())
        positional = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
        self._min_pos = sum(1 for p in positional if p.default is P.empty)
        self._max_pos = sys.maxsize if any(p.kind == P.VAR_POSITIONAL for p in params) \
            else len(positional)
        if any(p.kind == P.KEYWORD_ONLY and p.default is P.empty for p in params):
            self._min_pos = sys.maxsize  # a required keyword: only bind() can tell

    def check(self, args: Tuple[Any, ...], kwargs: Dict[str, Any], where: str) -> None:
        """Raise TypeError naming `where` when `args`/`kwargs` do not fit."""
        if not kwargs and self._min_pos <= len(args) <= self._max_pos:
            return
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{where}: {e}; its signature is {self.signature}") from None

    def __reduce__(self) -> Any:
        # A remote function or actor class travels with its signature (captured in a
        # closure, say): as a description, so defaults never need pickling here.
        return (rebuild, (describe(self),))

    def __repr__(self) -> str:
        return f"CallSignature{self.signature}"


def signature_of(target: Callable[..., Any]) -> Optional[CallSignature]:
    """The signature calls of `target` must bind to; None when Python cannot tell (some
    builtins), and then calls are not checked."""
    try:
        return CallSignature(inspect.signature(target))
    except (TypeError, ValueError):
        return None


def describe(sig: Optional[CallSignature], drop_first: bool = False
             ) -> Optional[ParamsDescription]:
    """A picklable description of `sig`; drop_first removes `self` of a plain method."""
    if sig is None:
        return None
    params = list(sig.signature.parameters.values())
    if drop_first and params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                     inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]
    return tuple((p.name, int(p.kind), p.default is not inspect.Parameter.empty) for p in params)


def method_params(cls: type, name: str, member: Any) -> Optional[ParamsDescription]:
    """The parameters a caller passes to method `name` of `cls` (no `self`, no `cls`)."""
    raw = inspect.getattr_static(cls, name, None)
    # A static method takes every argument; a class method's `cls` is already bound in
    # `member`; a plain function's first parameter is the instance.
    plain = not isinstance(raw, (staticmethod, classmethod)) and inspect.isfunction(member)
    return describe(signature_of(member), drop_first=plain)


@functools.lru_cache(maxsize=1024)
def rebuild(params: ParamsDescription) -> CallSignature:
    """A signature that accepts exactly the calls the described one accepts (built once per
    description: an actor handle looks its method's signature up on every call)."""
    return _rebuild(tuple(tuple(p) for p in params))


@functools.lru_cache(maxsize=4096)
def _rebuild(params: ParamsDescription) -> CallSignature:
    return CallSignature(inspect.Signature([
        inspect.Parameter(name, _KINDS[kind],
                          default=_DEFAULT if has_default else inspect.Parameter.empty)
        for name, kind, has_default in params]))


__all__ = ["CallSignature", "ParamsDescription", "describe", "method_params", "rebuild",
           "signature_of"]
