"""%nbray and %%remote: thin magics that parse arguments, call the API and render results."""

from __future__ import annotations

import ast
import shlex
from types import FrameType
from typing import Any, Dict, List, Optional

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..backends import current_port
from . import session

_SKIP = {"In", "Out", "get_ipython", "exit", "quit", "display"}
# Columns of `%nbray memory`'s table: a notebook's output area wraps longer lines.
_TEXT_WIDTH = 100


def free_names(code: str) -> List[str]:
    """Names a cell reads before (or without) assigning them: what it needs shipped."""
    tree = ast.parse(code)
    loaded: Dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            loaded.setdefault(node.id, None)
    return list(loaded)


@magics_class
class NbrayMagics(Magics):
    """%nbray (status, objects, nodes, memory, config, inspect) and %%remote."""

    @magic_arguments()
    @argument("-o", "--output", help="bind the ObjectRef of the cell's value to this name and "
              "return at once, without waiting")
    @argument("--num-cpus", type=float, default=None, help="CPUs the cell needs (default 1)")
    @argument("--resources", default=None, help="custom resources as JSON, e.g. '{\"GPU\": 1}'")
    @argument("--node", default=None, help="run on this node id (multi-node clusters)")
    @argument("--push", default="", help="comma-separated extra names to ship to the worker "
              "(names the cell reads are shipped automatically)")
    @argument("--pull", default="", help="comma-separated names the cell defines that should be "
              "copied back into the notebook after it runs")
    @argument("--no-block", action="store_true", help="return the ObjectRef instead of the value")
    @argument("--timeout", type=float, default=None, help="seconds to wait for the result")
    @cell_magic
    def remote(self, line: str, cell: str) -> Any:
        """Run this cell on a worker of the nbray cluster.

        The names the cell reads are taken from the notebook and shipped with it;
        ObjectRefs among them arrive as their values (like top-level task
        arguments). The value of the last expression is the cell's result: by
        default the cell waits and shows it; with `-o NAME` the cell returns at
        once and NAME holds its ObjectRef. print(), display() and errors from the
        cell appear in this cell's output, and an exception shows the remote
        traceback. Kernel > Interrupt cancels the remote cell.

        Examples::

            %%remote
            x.sum()

            %%remote -o total --num-cpus 2
            heavy(x)

            %%remote --pull model
            model = fit(data)
        """
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        import json

        args = parse_argstring(self.remote, line)
        assert self.shell is not None  # a registered magic always has its shell
        ns = self.shell.user_ns
        push = [n.strip() for n in args.push.split(",") if n.strip()]
        pull = tuple(n.strip() for n in args.pull.split(",") if n.strip())
        try:
            needed = free_names(cell)
        except SyntaxError as e:
            raise SyntaxError(f"%%remote cell does not parse: {e}") from None
        missing_push = [n for n in push if n not in ns]
        if missing_push:
            raise NameError(f"--push names not defined in the notebook: {', '.join(missing_push)}")
        shipped = {}
        for name in dict.fromkeys(needed + push):
            if name in ns and name not in _SKIP and not name.startswith("_"):
                shipped[name] = ns[name]
        options: Dict[str, Any] = {"num_returns": 2, "name": "remote-cell", "max_retries": 0}
        if args.num_cpus is not None:
            options["num_cpus"] = args.num_cpus
        if args.resources:
            try:
                options["resources"] = json.loads(args.resources)
            except ValueError as e:
                raise ValueError(f"--resources must be a JSON object, e.g. '{{\"GPU\": 1}}': "
                                 f"{e}") from None
        if args.node:
            options["node"] = args.node
        port = current_port()
        fn = port.remote_cell(options)
        # How tracebacks name this cell: its number, that of the last input in the history
        # (execution_count is not: IPython 9 counts it up before the cell runs, 8 after).
        history = self.shell.history_manager
        label = (f"In [{len(history.input_hist_parsed) - 1}]" if history is not None
                 else "<remote cell>")
        value_ref, pulled_ref = _submit_from_cell(self.shell,
                                                  lambda: fn.remote(cell, pull, label, **shipped))
        if args.output:
            ns[args.output] = value_ref
            if pull:
                ns["_nbray_pulled"] = pulled_ref
            return None
        if args.no_block and not pull:
            return value_ref
        value, pulled = port.get([value_ref, pulled_ref], timeout=args.timeout)
        ns.update(pulled)
        return value

    @line_magic
    def nbray(self, line: str) -> Any:
        """Cluster commands: %nbray status | objects | inspect | nodes | memory [args] | config [k=v ...]

        status   the cluster: nodes, CPUs, store use (also what %load_ext shows)
        objects  the live object-store inspector widget (same as nbray.inspect())
        nodes    nodes and their resources
        memory   the object table as text; takes --sort-by, --filter, --where, --limit
        config   show settings, or set them: cancel_on_interrupt=true|false
        """
        parts = shlex.split(line)
        cmd, rest = (parts[0], parts[1:]) if parts else ("status", [])
        if cmd == "status":
            return session.status()
        if cmd in ("objects", "inspect"):
            from .inspector import inspect

            return inspect()
        if cmd == "nodes":
            return current_port().nodes()
        if cmd == "memory":
            return _memory_command(rest)
        if cmd == "config":
            return session.configure(rest)
        raise ValueError(f"unknown %nbray command {cmd!r}: use status, objects, nodes, memory "
                         f"or config")


def _memory_command(rest: List[str]) -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="%nbray memory", add_help=False)
    p.add_argument("--sort-by", default="size")
    p.add_argument("--filter", default="")
    p.add_argument("--where", default=None)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--width", type=int, default=_TEXT_WIDTH)
    a = p.parse_args(rest)
    summary = current_port().memory(sort_by=a.sort_by, filter=a.filter, where=a.where,
                                    limit=a.limit, offset=a.offset)
    print(summary.table(width=a.width))
    return None


def _submit_from_cell(shell: Any, submit: Any) -> Any:
    """submit(), called from a frame that has the running cell's file name and line, so the
    objects it makes get the cell as call site ("In [n] line 1"), not IPython's magic
    machinery (the runtime names the first caller outside nbray)."""
    import sys

    from .naming import cell_number

    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None and cell_number(frame.f_code.co_filename, shell) is None:
        frame = frame.f_back
    if frame is None:  # not run from a cell (a test calling the magic directly)
        return submit()
    trampoline = compile("\n" * (frame.f_lineno - 1) + "submit()", frame.f_code.co_filename,
                         "eval")
    return eval(trampoline, {"__name__": "__main__", "submit": submit})


__all__ = ["NbrayMagics", "free_names"]
