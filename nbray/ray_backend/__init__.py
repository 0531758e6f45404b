"""nbray's notebook layer on a real Ray cluster.

`port.RayPort` is the `NotebookPort` (nbray/runtime/notebook_port.py) for Ray: the
inspector, `%nbray objects`, the JupyterLab sidebar, output under the submitting cell,
progress bars, cancel on interrupt and `%%remote` work the same on Ray as on nbray's own
runtime.  Its parts, one responsibility each:

- `state` (pure) and `state_reader`: Ray's state API -> nbray's rows (objects, nodes, ...);
- `attribution` (pure) and `output_routing`: Ray task output -> the cell that submitted it;
- `blocking`: progress bars and cancel-on-interrupt around `ray.get` / `ray.wait`;
- `ray_private`: every use of Ray's private internals, version-checked, each with a
  fallback.

Ray is an optional dependency (`pip install "nbray[ray]"`): nothing here imports it until
the notebook layer attaches to Ray.
"""
