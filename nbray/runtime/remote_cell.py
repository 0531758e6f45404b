"""The body of a %%remote cell as it runs on a worker (no IPython needed there)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple


def run_cell(__nbray_code: str, __nbray_pull: Tuple[str, ...],
             __nbray_label: str = "<remote cell>", **names: Any) -> Any:
    """Runs on a worker: exec the cell; returns (value of the last expression, pulled names).

    `__nbray_label` names the cell in tracebacks ("In [7]"); its line 1 is the %%remote
    line, so the body's line numbers are the notebook cell's."""
    import ast as _ast

    from .remote_display import display

    ns: Dict[str, Any] = {"__name__": "__nbray_remote__", "display": display}
    ns.update(names)
    import linecache

    # Tracebacks of the remote cell show its source lines, as a local cell's do.
    name = __nbray_label
    lines = ["%%remote\n"] + __nbray_code.splitlines(keepends=True)
    linecache.cache[name] = (sum(map(len, lines)), None, lines, name)
    tree = _ast.parse(__nbray_code)
    _ast.increment_lineno(tree, 1)
    last: Optional[_ast.Expression] = None
    tail = tree.body[-1] if tree.body else None
    if isinstance(tail, _ast.Expr):
        tree.body.pop()
        last = _ast.Expression(tail.value)
    exec(compile(tree, name, "exec"), ns)
    value = eval(compile(last, name, "eval"), ns) if last is not None else None
    pulled = {k: ns[k] for k in __nbray_pull if k in ns}
    missing = [k for k in __nbray_pull if k not in ns]
    if missing:
        raise NameError(f"--pull names not defined by the remote cell: {', '.join(missing)}")
    return value, pulled
