"""Membership decisions (core/membership.py): joins, heartbeats, closes and deadlines, with
the time passed in; no process, socket or clock."""

from __future__ import annotations

from nbray.core.membership import (CONNECTION_CLOSED, HEARTBEAT_TIMEOUT_S, RESTARTED, Lost,
                                   Membership)


def joined(*node_ids: str, now: float = 0.0, timeout: float = 5.0) -> Membership:
    m = Membership(timeout)
    for nid in node_ids:
        m.join(nid, now)
    return m


def test_default_timeout_is_the_heartbeat_timeout() -> None:
    assert Membership().timeout_s == HEARTBEAT_TIMEOUT_S


def test_a_new_node_joins_alive_and_loses_nobody() -> None:
    m = Membership()
    incarnation, lost = m.join("a", 10.0)
    assert lost == [] and incarnation >= 1
    assert m.is_alive("a")


def test_an_unknown_node_is_not_alive() -> None:
    assert not Membership().is_alive("nobody")
    assert Membership().silent_for("nobody", 3.0) is None


def test_each_join_gets_a_new_incarnation() -> None:
    m = Membership()
    first, _ = m.join("a", 0.0)
    second, _ = m.join("b", 0.0)
    third, _ = m.join("a", 1.0)
    assert len({first, second, third}) == 3


def test_rejoining_while_alive_loses_the_old_incarnation_first() -> None:
    m = joined("a")
    _, lost = m.join("a", 1.0)
    assert lost == [Lost("a", RESTARTED)]
    assert m.is_alive("a")  # the new incarnation


def test_rejoining_after_being_lost_loses_nobody() -> None:
    m = joined("a")
    m.lose("a", "test")
    _, lost = m.join("a", 1.0)
    assert lost == [] and m.is_alive("a")


def test_a_silent_node_expires_after_the_timeout() -> None:
    m = joined("a", now=100.0)
    assert m.expired(105.0) == []          # exactly the timeout: not yet
    lost = m.expired(105.5)
    assert lost == [Lost("a", "no heartbeat for 5.5 s")]
    assert not m.is_alive("a")


def test_a_node_expires_once() -> None:
    m = joined("a")
    assert len(m.expired(6.0)) == 1
    assert m.expired(60.0) == []


def test_a_heartbeat_pushes_the_deadline() -> None:
    m = Membership(5.0)
    inc, _ = m.join("a", 0.0)
    m.heard("a", inc, 4.0)
    assert m.expired(8.0) == []
    assert m.silent_for("a", 8.0) == 4.0
    assert [x.node_id for x in m.expired(9.5)] == ["a"]


def test_a_late_heartbeat_out_of_order_does_not_move_last_seen_back() -> None:
    m = Membership(5.0)
    inc, _ = m.join("a", 0.0)
    m.heard("a", inc, 4.0)
    m.heard("a", inc, 2.0)
    assert m.silent_for("a", 4.0) == 0.0


def test_a_heartbeat_of_an_old_incarnation_does_not_count() -> None:
    m = Membership(5.0)
    old, _ = m.join("a", 0.0)
    m.join("a", 1.0)
    m.heard("a", old, 5.0)
    assert m.silent_for("a", 5.0) == 4.0


def test_a_heartbeat_does_not_revive_a_lost_node() -> None:
    m = Membership(5.0)
    inc, _ = m.join("a", 0.0)
    m.lose("a", "gone")
    m.heard("a", inc, 1.0)
    assert not m.is_alive("a")
    assert m.expired(100.0) == []


def test_a_heartbeat_of_an_unknown_node_is_ignored() -> None:
    m = Membership()
    m.heard("ghost", 1, 0.0)
    assert "ghost" not in m.members


def test_only_silent_nodes_expire() -> None:
    m = Membership(5.0)
    a, _ = m.join("a", 0.0)
    m.join("b", 0.0)
    c, _ = m.join("c", 0.0)
    m.heard("a", a, 3.0)
    m.heard("c", c, 2.0)
    assert [x.node_id for x in m.expired(7.5)] == ["b", "c"]
    assert m.is_alive("a") and not m.is_alive("b") and not m.is_alive("c")


def test_closing_the_current_connection_loses_the_node() -> None:
    m = Membership()
    inc, _ = m.join("a", 0.0)
    assert m.closed("a", inc) == [Lost("a", CONNECTION_CLOSED)]
    assert not m.is_alive("a")


def test_closing_an_old_connection_keeps_the_new_incarnation() -> None:
    m = Membership()
    old, _ = m.join("a", 0.0)
    m.join("a", 1.0)
    assert m.closed("a", old) == []
    assert m.is_alive("a")


def test_a_second_close_reports_nothing() -> None:
    m = Membership()
    inc, _ = m.join("a", 0.0)
    m.closed("a", inc)
    assert m.closed("a", inc) == []


def test_closing_an_unknown_node_reports_nothing() -> None:
    assert Membership().closed("ghost", 1) == []


def test_lose_reports_a_live_member_once_with_the_reason() -> None:
    m = joined("a")
    assert m.lose("a", "kicked") == [Lost("a", "kicked")]
    assert m.lose("a", "kicked") == []


def test_losing_a_non_member_reports_nothing() -> None:
    # The head's own node is never a member: it can never be lost.
    assert Membership().lose("head", "whatever") == []


def test_a_closed_node_does_not_also_expire() -> None:
    m = Membership(5.0)
    inc, _ = m.join("a", 0.0)
    m.closed("a", inc)
    assert m.expired(100.0) == []


def test_an_expired_node_is_not_lost_again_when_its_connection_closes() -> None:
    m = Membership(5.0)
    inc, _ = m.join("a", 0.0)
    m.expired(10.0)
    assert m.closed("a", inc) == []


def test_a_restarted_node_gets_a_fresh_deadline() -> None:
    m = Membership(5.0)
    m.join("a", 0.0)
    m.join("a", 4.0)
    assert m.expired(8.0) == []
    assert [x.node_id for x in m.expired(9.5)] == ["a"]


def test_the_timeout_is_configurable() -> None:
    m = joined("a", timeout=0.5)
    assert m.expired(0.4) == []
    assert [x.reason for x in m.expired(0.6)] == ["no heartbeat for 0.6 s"]


def test_lost_is_a_plain_pair() -> None:
    node_id, reason = Lost("a", "why")
    assert (node_id, reason) == ("a", "why")
