"""Values to (metadata, buffers) and back: pickle protocol 5 with out-of-band buffers.

cloudpickle handles functions, lambdas, closures and classes defined in
`__main__` or a notebook.  Large contiguous buffers (numpy arrays, bytes-like
objects exposing PickleBuffer) travel out of band so the store can place them
in shared memory and readers can map them without a copy.  While pickling, every
ObjectRef met inside the value is recorded, so the runtime knows which objects
a stored value or a task argument keeps alive.
"""

from __future__ import annotations

import io
import linecache
import pickle
import re
import threading
import types
from collections import ChainMap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import cloudpickle

PROTOCOL = 5
_local = threading.local()


@dataclass
class Serialized:
    """A pickled value: metadata pickle, out-of-band buffers, and the refs it contains."""

    meta: bytes
    buffers: List[memoryview] = field(default_factory=list)
    contained_refs: List[bytes] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        if not self.buffers:
            return len(self.meta)
        return len(self.meta) + sum(b.nbytes for b in self.buffers)


def note_contained_ref(object_id: bytes) -> None:
    """Called by ObjectRef.__reduce__: records a ref pickled inside the current value."""
    collector = getattr(_local, "collector", None)
    if collector is not None:
        collector.append(object_id)


class SerializationError(TypeError):
    """A value could not be pickled; the message names the value and where it came from."""


def describe_value(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__qualname__} object>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} (type {type(value).__module__}.{type(value).__qualname__})"


# -- code objects keep their file name and, for notebook cells, their source ----------------
# cloudpickle >= 3.1.3 pickles every code object with co_filename "<dynamic-code>" (for
# deterministic payloads), which would leave a task's traceback without file or source line.
# nbray's pickler puts the real name back, and ships the source lines of code that has no
# file on disk (a notebook cell, registered in linecache by IPython), so the worker's
# traceback shows the line that failed.
_CODE_LABELS: Dict[str, str] = {}      # filename -> what a traceback shows instead ("In [3]")
_filename_labeler: Optional[Callable[[str], Optional[str]]] = None


def set_filename_labeler(labeler: Optional[Callable[[str], Optional[str]]]) -> None:
    """Install how code file names are shown in remote tracebacks (the notebook layer
    maps a cell's file to "In [n]"); None removes it.

    The driver also relabels the text of task errors it shows: a function pickled before
    the labeler was installed (defined and called before `%load_ext nbray`) reaches the
    worker without a label, and its traceback names the cell's temporary file."""
    global _filename_labeler
    _filename_labeler = labeler
    from ..exceptions import set_traceback_labeler

    set_traceback_labeler(relabel_traceback if labeler is not None else None)


def label_for_filename(filename: str) -> Optional[str]:
    """The label a remote traceback shows for `filename` ("In [3]"), if one was shipped."""
    return _CODE_LABELS.get(filename)


def _label_of(filename: str) -> Optional[str]:
    """The label of `filename`: from this process's labeler (the notebook's cells), else
    the one shipped with the code (a worker re-pickling a cell's function for a nested
    task passes the cell's label on)."""
    labeler = _filename_labeler
    if labeler is not None:
        try:
            label = labeler(filename)
        except Exception:  # a broken labeler must not stop a task from being sent
            label = None
        if label:
            return label
    return _CODE_LABELS.get(filename)


_FILE_LINE = re.compile(r'File "([^"\n]+)", line (\d+)')


def relabel_traceback(text: str) -> str:
    """`text` (a formatted traceback) with every file this process can name shown by its
    label: 'File "/tmp/ipykernel_1/2.py", line 3' -> 'File "In [4]", line 3'."""
    def sub(m: "re.Match[str]") -> str:
        label = _label_of(m.group(1))
        return f'File "{label}", line {m.group(2)}' if label else m.group(0)

    return _FILE_LINE.sub(sub, text)


def _base_code_reduce(code: types.CodeType) -> Any:
    return cloudpickle.Pickler.dispatch_table[types.CodeType](code)


def _reduce_code(code: types.CodeType) -> Any:
    ctor, args = _base_code_reduce(code)[:2]
    filename = code.co_filename
    args = tuple(filename if isinstance(a, str) and a == "<dynamic-code>" else a for a in args)
    entry = linecache.cache.get(filename)
    # A full entry with no mtime has no file behind it; a 1-tuple is a lazy entry
    # (linecache.lazycache, left by traceback formatting) for a file that exists.
    lines = entry[2] if entry is not None and len(entry) == 4 and entry[1] is None else None
    return _rebuild_code, (ctor, args, filename, lines, _label_of(filename))


def _rebuild_code(ctor: Any, args: Tuple[Any, ...], filename: str, lines: Optional[List[str]],
                  label: Optional[str]) -> types.CodeType:
    if lines and filename not in linecache.cache:
        linecache.cache[filename] = (sum(map(len, lines)), None, list(lines), filename)
    if label:
        _CODE_LABELS[filename] = label
    code: types.CodeType = ctor(*args)
    return code


if TYPE_CHECKING:  # cloudpickle ships no types; its Pickler is a pickle.Pickler
    _BasePickler = pickle.Pickler
else:
    _BasePickler = cloudpickle.Pickler


class _Pickler(_BasePickler):
    dispatch_table = ChainMap({types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table)


def _dumps(value: Any, buffer_callback: Any) -> bytes:
    with io.BytesIO() as out:
        _Pickler(out, protocol=PROTOCOL, buffer_callback=buffer_callback).dump(value)
        return out.getvalue()


# Values the C pickler writes whole, with no buffer and no ref inside: pickled without
# cloudpickle's Pickler (whose construction alone costs microseconds), the same bytes.
_ATOMS = frozenset({type(None), bool, int, float, complex, str, bytes})


def serialize(value: Any, *, context: str = "value", out_of_band: bool = True) -> Serialized:
    """Pickle `value`; raise SerializationError naming `context` if it cannot be pickled."""
    if type(value) in _ATOMS:  # a task's None, a counter, a small string: the common returns
        return Serialized(pickle.dumps(value, protocol=PROTOCOL))
    buffers: List[memoryview] = []
    refs: List[bytes] = []
    previous = getattr(_local, "collector", None)
    _local.collector = refs
    try:
        callback: Optional[Callable[[pickle.PickleBuffer], bool]]
        if out_of_band:
            def callback(buf: pickle.PickleBuffer) -> bool:
                try:
                    view = buf.raw()
                except BufferError:  # non-contiguous: keep it in band
                    return True
                buffers.append(view)
                return False
        else:
            callback = None
        try:
            meta = _dumps(value, callback)
        except Exception as exc:
            raise SerializationError(
                f"Could not serialize {context} {describe_value(value)}: "
                f"{type(exc).__name__}: {exc}. Only picklable values can be passed to or "
                f"returned from tasks and actors, or put in the object store."
            ) from exc
    finally:
        _local.collector = previous
    return Serialized(meta, buffers, refs)


def deserialize(meta: bytes | memoryview, buffers: Sequence[Any] = ()) -> Any:
    return pickle.loads(meta, buffers=buffers)


def dumps_function(fn: Any) -> Serialized:
    """Pickle a function or class by value when it lives in __main__ or a notebook."""
    return serialize(fn, context="remote function or class", out_of_band=False)


def contained_refs_of(value: Any) -> List[bytes]:
    """The ids of the ObjectRefs inside `value` (used for closure captures)."""
    return serialize(value, context="value", out_of_band=False).contained_refs


__all__ = ["Serialized", "SerializationError", "serialize", "deserialize", "dumps_function",
           "set_filename_labeler", "label_for_filename", "relabel_traceback",
           "note_contained_ref", "describe_value", "contained_refs_of"]
