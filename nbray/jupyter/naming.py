"""Names the notebook gives objects: which variables hold each ref, and which cell made it.

`HolderIndex` walks the kernel's namespace once (variables, `Out[n]`, and one level inside
lists, tuples and dicts) and keeps, per object id, where its refs are, without formatting
a name per element: a list of 100,000 refs costs one pass and one small tuple per ref,
and names are written only for the rows shown.  An object held at many places of one
container is named once, "objs[3] (and 99 more)".  The walk stops after `limit` elements
in all, so a refresh takes bounded time however large the namespace; containers it did
not reach are listed in `skipped`.

`cell_of` turns a call site "file:line" into "In [n] line k" for a notebook cell's file.
"""

from __future__ import annotations

from typing import AbstractSet, Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

# Elements of containers walked per index, in all (one level deep): ~35 ms per 100,000.
DEFAULT_LIMIT = 1_000_000
# Holders named per object; further ones are counted in a last "(and N more)".
SHOWN = 4

_Place = Tuple[int, Any]   # (holder number, key inside it or _WHOLE for the variable itself)
_WHOLE = object()


class HolderIndex(Mapping[str, List[str]]):
    """hex id -> names that hold a ref to it ("keep_me", "objs['o137']", "Out[11]")."""

    def __init__(self, user_ns: Mapping[str, Any], limit: int = DEFAULT_LIMIT) -> None:
        from ..backends import current_port

        # nbray's ObjectRef, and Ray's when the notebook layer is on Ray
        self._ref_type = current_port().ref_types()
        self.holders: List[str] = []        # holder number -> variable name or "Out[n]"
        self._first: Dict[bytes, _Place] = {}
        self._more: Dict[bytes, List[_Place]] = {}
        self.skipped: List[str] = []        # containers not walked: over the budget
        self._budget = limit
        for name, value in list(user_ns.items()):
            if name.startswith("_") or name in ("In", "Out"):
                continue
            self._note(value, name)
        out = user_ns.get("Out")
        if isinstance(out, dict):
            for n, value in list(out.items()):
                self._note(value, f"Out[{n}]")

    # -- building -----------------------------------------------------------------
    def _note(self, value: Any, label: str) -> None:
        ref_type = self._ref_type
        if isinstance(value, ref_type):
            self._add(value.binary(), (self._holder(label), _WHOLE))
            return
        if isinstance(value, dict):
            items: Any = list(value.items())   # a copy: the kernel may change it meanwhile
        elif isinstance(value, (list, tuple)):
            items = enumerate(list(value))
        else:
            return
        size = len(value)
        if size > self._budget:
            self.skipped.append(label)
            return
        self._budget -= size
        holder = -1
        first, more = self._first, self._more
        for key, v in items:
            if isinstance(v, ref_type):
                if holder < 0:
                    holder = self._holder(label)
                place = (holder, key)
                oid = v.binary()
                got = first.setdefault(oid, place)
                if got is not place:
                    more.setdefault(oid, []).append(place)

    def _holder(self, label: str) -> int:
        self.holders.append(label)
        return len(self.holders) - 1

    def _add(self, oid: bytes, place: _Place) -> None:
        got = self._first.setdefault(oid, place)
        if got is not place:
            self._more.setdefault(oid, []).append(place)

    # -- reading ------------------------------------------------------------------
    def _places(self, oid: bytes) -> List[_Place]:
        first = self._first.get(oid)
        if first is None:
            return []
        return [first] + self._more.get(oid, [])

    def names(self, object_id: bytes, shown: int = SHOWN) -> List[str]:
        """Who holds `object_id`: one name per holder (its first place in a container,
        with how many more places it has there), at most `shown` then "(and N more)"."""
        groups: Dict[int, List[Any]] = {}
        for holder, key in self._places(object_id):
            groups.setdefault(holder, []).append(key)
        out: List[str] = []
        for holder, keys in groups.items():
            if len(out) == shown:
                out.append(f"(and {len(groups) - shown} more)")
                break
            label = self.holders[holder]
            key = keys[0]
            name = label if key is _WHOLE else f"{label}[{key!r}]"
            out.append(name if len(keys) == 1 else f"{name} (and {len(keys) - 1} more)")
        return out

    def named(self) -> AbstractSet[bytes]:
        """Ids of the objects some name holds."""
        return self._first.keys()

    def sort_key(self, object_id: bytes) -> Tuple[str, int, Any]:
        """Orders objects by the first name `names()` shows: variable, then elements by
        index (big[2] before big[10]) or by key."""
        holder, key = self._first[object_id]
        label = self.holders[holder]
        if key is _WHOLE:
            return (label, 0, 0)
        return (label, 1, key) if isinstance(key, int) else (label, 2, repr(key))

    def matching(self, text: str) -> Set[bytes]:
        """Ids of the objects with a holder name containing `text` (case-insensitive):
        every ref in a container whose name matches, or, for a text with "[", the refs
        whose element name ("objs['o137']") contains it."""
        text = text.lower()
        if not text:
            return set()
        hit = {h for h, label in enumerate(self.holders) if text in label.lower()}
        out = set()
        by_element = "[" in text
        for oid, place in self._first.items():
            for holder, key in [place] + self._more.get(oid, []):
                if holder in hit or (by_element and key is not _WHOLE
                                     and text in f"{self.holders[holder]}[{key!r}]".lower()):
                    out.add(oid)
                    break
        return out

    def __getitem__(self, hex_id: str) -> List[str]:
        try:
            oid = bytes.fromhex(hex_id)
        except ValueError:
            raise KeyError(hex_id) from None
        if oid not in self._first:
            raise KeyError(hex_id)
        return self.names(oid)

    def __contains__(self, hex_id: object) -> bool:
        try:
            return isinstance(hex_id, str) and bytes.fromhex(hex_id) in self._first
        except ValueError:
            return False

    def __iter__(self) -> Iterator[str]:
        return (oid.hex() for oid in self._first)

    def __len__(self) -> int:
        return len(self._first)


def namespace_holders(user_ns: Mapping[str, Any], limit: int = DEFAULT_LIMIT) -> HolderIndex:
    """hex id -> names that hold a ref: variables, Out[n], and one level inside containers
    (`limit`: elements walked in all, see HolderIndex)."""
    return HolderIndex(user_ns, limit)


def holder_provider(shell: Any, limit: int = DEFAULT_LIMIT) -> Callable[[], HolderIndex]:
    """What the extension registers with the runtime's NotebookPort: a fresh index of
    `shell`'s namespace per object listing."""
    return lambda: HolderIndex(shell.user_ns, limit)


def cell_of(call_site: str, shell: Any) -> str:
    """'file:line' of a notebook cell as 'In [n] line L'."""
    if not call_site or shell is None:
        return call_site
    filename, _, line = call_site.rpartition(":")
    number = cell_number(filename, shell)
    if number is None:
        return call_site
    return f"In [{number}] line {line}"


def cell_number(filename: str, shell: Any) -> Optional[int]:
    """The execution count of the cell whose code IPython compiled as `filename`."""
    mapping = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    number = mapping.get(filename)
    return number if isinstance(number, int) else None


__all__ = ["DEFAULT_LIMIT", "HolderIndex", "cell_number", "cell_of", "holder_provider",
           "namespace_holders"]
