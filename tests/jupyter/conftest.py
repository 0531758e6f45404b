"""Fixtures: a real IPython kernel per test (see _kernel_session for the helpers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ._kernel_session import KernelSession, start_kernel, stop_kernel


@pytest.fixture(scope="session")
def kernelspec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec for *this* interpreter, so the tests never pick up another python3 spec."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / "nbray-test"
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nbray tests", "language": "python"}))
    return root


@pytest.fixture
def kernel(kernelspec_dir: Path, tmp_path: Path):
    """A fresh kernel (nothing loaded) whose working directory is tmp_path."""
    session = start_kernel(kernelspec_dir, tmp_path)
    try:
        yield session
    finally:
        stop_kernel(session)


@pytest.fixture
def nbray_kernel(kernel: KernelSession) -> KernelSession:
    """A kernel with a 2-CPU cluster started and `%load_ext nbray` run (nbray imported)."""
    kernel.execute("import nbray\nnbray.init(num_cpus=2)\n%load_ext nbray")
    return kernel
