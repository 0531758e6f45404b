"""The current-driver slot (`nbray.runtime.context`) and the notebook port's interrupt event,
without a cluster: what the runtime reads when it needs "the current client"."""

from __future__ import annotations

from typing import Any, Iterator, List

import pytest

from nbray.runtime import context, notebook_port
from nbray.runtime.context import Driver


class _FakeClient:
    """Stands for a client: the slot only stores it and hands it out."""

    node_id = "n" * 56


class _FakeHead:
    address = "ws://127.0.0.1:6379"


@pytest.fixture
def empty_slot(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty slot for the test; the facade's hook and any running driver come back after."""
    saved_driver, saved_client = context.current_driver(), context.current_client()
    monkeypatch.setattr(context, "_auto_init", None)
    monkeypatch.delenv("NBRAY_ADDRESS", raising=False)
    monkeypatch.delenv("NBRAY_NAMESPACE", raising=False)
    monkeypatch.delenv("NBRAY_WORKER", raising=False)
    context.set_driver(None)
    try:
        yield
    finally:
        if saved_driver is not None:
            context.set_driver(saved_driver)
        else:
            context.set_client(saved_client)


def test_client_or_init_runs_the_registered_hook_once_and_returns_what_it_installed(empty_slot):
    client = _FakeClient()
    calls: List[int] = []

    def init() -> None:
        calls.append(1)
        context.set_driver(Driver(client, "default"))

    context.set_auto_init(init)
    assert context.client_or_init() is client
    assert context.client_or_init() is client
    assert calls == [1]


def test_without_a_hook_or_a_client_the_slot_says_to_call_init(empty_slot):
    with pytest.raises(RuntimeError, match="init"):
        context.client_or_init()


def test_one_slot_a_driver_record_and_its_client_change_together(empty_slot):
    client = _FakeClient()
    context.set_driver(Driver(client, "team"))
    assert context.current_client() is client and context.current_driver().client is client
    worker_client = _FakeClient()
    context.set_client(worker_client)  # as a worker process does at start-up
    assert context.current_driver() is None and context.current_client() is worker_client
    context.set_driver(None)
    assert context.current_client() is None


def test_namespace_is_the_drivers_or_the_workers_environment(empty_slot, monkeypatch):
    assert context.namespace() == "default"
    monkeypatch.setenv("NBRAY_NAMESPACE", "from-env")
    assert context.namespace() == "from-env"
    context.set_driver(Driver(_FakeClient(), "team"))
    assert context.namespace() == "team"


def test_cluster_address_prefers_the_attached_url_then_the_head_server_then_the_env(
        empty_slot, monkeypatch):
    monkeypatch.setenv("NBRAY_ADDRESS", "ws://env:1")
    assert context.cluster_address() == "ws://env:1"
    driver = Driver(_FakeClient(), "default")
    context.set_driver(driver)
    assert context.cluster_address() == "ws://env:1"
    driver.head_server = _FakeHead()
    assert context.cluster_address() == _FakeHead.address
    driver.address = "wss://attached:2"
    assert context.cluster_address() == "wss://attached:2"


def test_in_worker_needs_both_the_worker_environment_and_a_client(empty_slot, monkeypatch):
    monkeypatch.setenv("NBRAY_WORKER", "1")
    assert not context.in_worker()
    context.set_client(_FakeClient())
    assert context.in_worker()


def test_an_interrupt_reaches_the_notebooks_handler_and_its_error_is_swallowed(monkeypatch):
    seen: List[Any] = []
    port = notebook_port.current_port()
    monkeypatch.setattr(notebook_port, "_interrupt_handler", None)
    notebook_port.report_interrupt([b"x"])  # no handler: nothing happens
    port.on_interrupt(lambda ids: seen.append(list(ids)))
    notebook_port.report_interrupt([b"a", b"b"])
    assert seen == [[b"a", b"b"]]

    def broken(ids: Any) -> None:
        raise ValueError("the handler failed")

    port.on_interrupt(broken)
    notebook_port.report_interrupt([b"c"])  # must not mask the KeyboardInterrupt being raised
    port.on_interrupt(None)
    notebook_port.report_interrupt([b"d"])
    assert seen == [[b"a", b"b"]]
