"""The source hash of the JupyterLab extension (same as labextension/scripts/stamp.js)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import List

REPO_ROOT = Path(__file__).resolve().parents[2]
EXT = REPO_ROOT / "labextension"
BUNDLE = REPO_ROOT / "nbray" / "labextension"
STAMP = EXT / "bundle.sha256"
REBUILD = "cd labextension && jlpm install && jlpm build:prod  (rebuilds the bundle and the stamp)"


def _walk(rel: str) -> List[str]:
    out = []
    for path in (EXT / rel).rglob("*"):
        name = path.relative_to(EXT).as_posix()
        if path.is_file() and not name.startswith("src/__tests__/"):
            out.append(name)
    return out


def source_hash() -> str:
    """sha256 over the sources sorted by path, each as `path NUL bytes`."""
    files = sorted(_walk("src") + _walk("style") + ["package.json", "tsconfig.json", "yarn.lock"])
    h = hashlib.sha256()
    for name in files:
        h.update(name.encode() + b"\0")
        h.update((EXT / name).read_bytes())
    return h.hexdigest()
