"""Which backend the notebook layer talks to (nbray/backends.py): pure, no cluster started."""

from __future__ import annotations

import sys
import types

import pytest

from nbray import backends
from nbray.runtime import notebook_port


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.delenv("NBRAY_BACKEND", raising=False)
    yield
    backends.select_port("nbray")


def test_a_bad_backend_name_is_refused_with_the_choices(no_ray, monkeypatch):
    monkeypatch.setenv("NBRAY_BACKEND", "dask")
    with pytest.raises(ValueError, match=r"NBRAY_BACKEND must be one of nbray, ray .*'dask'"):
        backends.select_port()
    assert isinstance(backends.current_port(), backends.LocalBackend)


def test_nbray_unless_real_ray_is_imported(no_ray, monkeypatch):
    assert backends.select_port().name == "nbray"
    # nbray under Ray's name (`sys.modules["ray"] = nbray`, as import shims do) is not Ray
    import nbray

    monkeypatch.setitem(sys.modules, "ray", nbray)
    assert not backends.ray_imported() and backends.select_port().name == "nbray"
    # a module that is not Ray's at all (no is_initialized) neither
    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))
    assert not backends.ray_imported()


def test_the_runtime_half_gets_the_reads_added():
    notebook_port.set_port(notebook_port.LocalPort())
    port = backends.current_port()
    assert isinstance(port, backends.LocalBackend) and notebook_port.current_port() is port
    assert port.is_initialized() is False and port.cluster_id() is None
