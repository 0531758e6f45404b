"""docs/architecture.md stays true to the code: its tour names every module of `nbray/` and
no module that does not exist, and its state tables match the cores that own the states.

Pure file reading and imports of the pure core: no process, thread or socket.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import typing
from typing import Dict, List, Set, Tuple

from nbray.core import actor_table, object_directory, object_table, scheduler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "architecture.md")
MODULE = re.compile(r"`(nbray/[\w/]+\.py)`")


def doc_text() -> str:
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def section(title: str, level: str = "##") -> str:
    """The text of the section whose heading starts with `title`, up to the next heading
    of the same or a higher level."""
    text = doc_text()
    match = re.search(rf"^{level} {re.escape(title)}.*$", text, re.MULTILINE)
    assert match is not None, f"docs/architecture.md has no section {title!r}"
    rest = text[match.end():]
    stop = re.search(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)
    return rest[:stop.start()] if stop else rest


def is_trivial_init(path: str) -> bool:
    """A package `__init__.py` with nothing but a docstring (and the future import)."""
    if os.path.basename(path) != "__init__.py":
        return False
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        body = ast.parse(f.read()).body
    for node in body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        return False
    return True


def package_modules() -> Set[str]:
    """Every Python module of nbray/, as a path relative to the repository root."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "nbray")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if name.endswith(".py"):
                found.add(os.path.relpath(os.path.join(dirpath, name), ROOT).replace(os.sep, "/"))
    return found


def table_rows(text: str) -> List[List[str]]:
    """The cells of every body row of the Markdown tables in `text`."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return [r for r in rows if r[:2] != ["from", "to"]]


def test_tour_names_every_module_of_the_package() -> None:
    named = set(MODULE.findall(section("A tour of the layout")))
    required = {p for p in package_modules() if not is_trivial_init(p)}
    missing = sorted(required - named)
    assert not missing, f"modules missing from the tour in docs/architecture.md: {missing}"


def test_tour_names_no_module_that_does_not_exist() -> None:
    tour = section("A tour of the layout")
    named = MODULE.findall(tour)
    assert len(named) == len(set(named)), "the tour names a module twice"
    gone = sorted(set(named) - package_modules())
    assert not gone, f"the tour of docs/architecture.md names modules that do not exist: {gone}"


def test_tour_has_one_line_per_module() -> None:
    for line in section("A tour of the layout").splitlines():
        if line.startswith("- "):
            assert len(MODULE.findall(line)) == 1, f"one module per tour line: {line!r}"
            assert re.match(r"- `nbray/[\w/]+\.py`: \S", line), f"tour line shape: {line!r}"


def test_every_module_path_in_the_doc_exists() -> None:
    modules = package_modules()
    for path in MODULE.findall(doc_text()):
        assert path in modules, f"docs/architecture.md names {path}, which does not exist"
    short = re.findall(r"`((?:core|runtime|transport|store)/\w+\.py)`", doc_text())
    for path in short:
        assert "nbray/" + path in modules, f"docs/architecture.md names {path}, which does not exist"


def test_actor_table_matches_transitions() -> None:
    rows = table_rows(section("Actors", "###"))
    in_doc: Dict[Tuple[str, str], str] = {}
    for cells in rows:
        assert len(cells) == 3, f"actor table row: {cells}"
        key = (cells[0].strip("`"), cells[1].strip("`"))
        assert key not in in_doc, f"actor transition {key} listed twice"
        in_doc[key] = cells[2]
    assert in_doc == dict(actor_table.TRANSITIONS)


def test_actor_events_and_instructions_are_named() -> None:
    text = section("Actors", "###")
    events = {name for name, _ in inspect.getmembers(actor_table.ActorTable, inspect.isfunction)
              if name.startswith("on_")}
    assert events, "the actor table has no on_* events any more: update this test"
    for name in sorted(events):
        assert f"`{name}`" in text, f"actor event {name} is missing from the doc"
    for name in instructions_of(actor_table):
        assert f"`{name}`" in text, f"actor instruction {name} is missing from the doc"


def instructions_of(module: object) -> List[str]:
    """The record names of a core's `Instruction` union."""
    union = getattr(module, "Instruction")
    return [t.__name__ for t in typing.get_args(union)]


def test_sans_io_table_names_every_instruction() -> None:
    text = section("The sans-IO pattern")
    for module in (scheduler, object_directory, actor_table):
        names = instructions_of(module)
        assert names
        for name in names:
            assert f"`{name}`" in text, f"{module.__name__}.{name} is missing from the sans-IO table"


def test_worker_table_covers_every_worker_state() -> None:
    text = section("Workers", "###")
    states = typing.get_args(scheduler.WorkerState)
    assert states
    for state in states:
        assert f"`{state}`" in text, f"worker state {state!r} is missing from the doc"
    for cells in table_rows(text):
        for cell in cells[:2]:
            if cell != "any":
                assert cell.strip("`") in states, f"the worker table names a state {cell!r}"


def test_object_table_covers_every_object_state() -> None:
    text = section("Objects", "###")
    states = {object_table.PENDING, object_table.INLINE, object_table.SHM, object_table.SPILLED}
    for state in states:
        assert f"`{state}`" in text, f"object state {state!r} is missing from the doc"
    for cells in table_rows(text):
        for cell in cells[:2]:
            if cell not in ("any", "(none)", "freed"):
                assert cell.strip("`") in states, f"the object table names a state {cell!r}"
    rows = {(a.strip("`"), b.strip("`")) for a, b, *_ in table_rows(text)}
    missing = set(object_directory.TRANSITIONS) - rows
    assert not missing, f"transitions of core/object_directory.py missing from the doc: {missing}"
