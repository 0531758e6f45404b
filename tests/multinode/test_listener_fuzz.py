"""Issue 13 "Also": a bounded fuzz of every listener of a head (the test process).

Cluster websocket, object server, dashboard and state socket each get a fixed number of
random and mutated requests (fixed seed: a failure reproduces), from a peer without the
token and, where the token matters, from one with it.  Afterwards the head must still answer
a valid request on each, and nothing sent by a peer without the token may ever have been
unpickled (that would create `marker`).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import socket
import struct

import tornado.httpclient

import nbray
from tests._support import poll_for

CASES = 40
SEED = 13


class Planted:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(3)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif b:
            del b[rng.randrange(len(b))]
    return bytes(b)


def _ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One masked client frame (RFC 6455)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 2**16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def _raw(port: int, data: bytes, half_close: bool = True) -> bytes:
    """Send `data`, return all the server sends until it closes (or goes quiet for 5 s)."""
    chunks: list = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            if half_close:  # (Tornado drops an HTTP request whose sender half-closed)
                s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        except socket.timeout:
            return b"".join(chunks)
        except OSError:  # the server may drop a garbage connection first: that is fine
            return b""


def _upgrade(path: str, port: int, headers: dict) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: Upgrade, close",
             "Upgrade: websocket", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(reply: bytes) -> int:
    try:
        return int(reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def _head_answers(head) -> None:
    assert nbray.get(nbray.put(7), timeout=30) == 7


def test_unauthenticated_peers_never_get_anything_unpickled(head, tmp_path):
    rng = random.Random(SEED)
    marker = str(tmp_path / "pwned")
    evil = pickle.dumps(Planted(marker))
    port = head.server.port
    statuses: list = []
    for i in range(CASES):
        path = rng.choice(["/nbray/ws", "/nbray/objects"])
        auth = rng.choice([{}, {"Authorization": "Bearer wrong"},
                           {"Authorization": "Bearer " + head.server.token[:-1]},
                           {"Authorization": head.server.token}])
        kind = rng.randrange(4)
        if kind == 0:      # a refused upgrade, then frames anyway
            data = _upgrade(path, port, auth) + _ws_frame(evil) + _ws_frame(_mutate(rng, evil))
        elif kind == 1:    # the pickle as a request body
            data = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
                    f"Content-Length: "
                    f"{len(evil)}\r\n\r\n").encode() + evil
        elif kind == 2:    # bytes of nothing in particular
            data = os.urandom(rng.randint(1, 2048))
        else:              # a mutated upgrade request
            data = _mutate(rng, _upgrade(path, port, auth)) + _ws_frame(evil)
        reply = _raw(port, data, half_close=kind != 1)  # else the server waits for more
        assert _status(reply) != 101, (i, kind, reply[:200])   # never upgraded without the token
        statuses.append(_status(reply))
    assert not os.path.exists(marker)
    assert 401 in statuses and 400 in statuses, statuses        # the cases reached the server
    _head_answers(head)
    agent = head.join()                                         # peers with the token still join
    assert agent.poll() is None


def test_authenticated_garbage_frames_close_that_connection_only(head):
    from nbray.transport.ws import connect

    rng = random.Random(SEED + 1)
    valid = [pickle.dumps(("heartbeat", 0, 1)), pickle.dumps(("no-such-op", 1)),
             pickle.dumps(("fetched",))]
    for i in range(CASES // 4):
        conn = head.server.net.run(connect(head.server.address + "/nbray/ws", head.server.token,
                                           head.server.net), timeout=10)
        choice = rng.randrange(3)
        if choice == 0:
            frame = os.urandom(rng.randint(1, 512))
        elif choice == 1:
            frame = _mutate(rng, rng.choice(valid))
        else:
            frame = rng.choice(valid)[: rng.randint(1, 10)]    # truncated
        head.server.net.call(conn._write, frame)
        head.server.net.call(conn._write, rng.choice(valid[1:]))

        async def close(c=conn) -> None:
            if c._ws is not None:
                c._ws.close()

        head.server.net.run(close(), timeout=10)
        poll_for(lambda c=conn: c.closed or c._ws.protocol is None, timeout=10,
                 msg="the fuzzing connection closed")
    _head_answers(head)
    agent = head.join()
    assert agent.poll() is None


def test_object_server_requests(head):
    async def fuzz() -> list:
        rng = random.Random(SEED + 2)
        codes = []
        url = head.server.address + "/nbray/objects"
        for _ in range(CASES // 2):
            req = tornado.httpclient.HTTPRequest(
                url, headers={"Authorization": f"Bearer {head.server.token}"})
            ws = await tornado.websocket.websocket_connect(req)
            body = rng.choice([
                json.dumps({"offset": rng.randint(-2**40, 2**40), "size": rng.randint(-5, 2**40)}),
                json.dumps({"offset": "x", "size": None}), json.dumps([1, 2]), "{",
                _mutate(rng, b'{"offset": 0, "size": 16}').decode(errors="replace"),
                "a" * rng.randint(0, 5000)])
            ws.write_message(body)
            reply = await ws.read_message()
            codes.append(reply if reply is None or isinstance(reply, str) else "bytes")
            ws.close()
        return codes

    import tornado.websocket

    replies = head.server.net.run(fuzz(), timeout=120)
    assert all(r is None or "error" in r or r == "bytes" for r in replies), replies
    _head_answers(head)


def test_dashboard_requests(head):
    rng = random.Random(SEED + 3)
    port = head.server.port
    paths = ["/", "/login", "/api/nodes", "/api/tasks", "/api/memory", "/api/x", "/static/a",
             "/nbray/login-link", "/api/objects"]
    for _ in range(CASES):
        path = rng.choice(paths) + rng.choice(["", "?otp=" + os.urandom(4).hex(), "?limit=-1",
                                               "?sort_by=%00", "?" + os.urandom(8).hex(),
                                               "?limit=99999999999999999999"])
        auth = rng.choice(["", f"Authorization: Bearer {head.server.token}\r\n",
                           "Authorization: Bearer nope\r\n"])
        host = rng.choice([f"127.0.0.1:{port}", "evil.example", f"localhost:{port}"])
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        req = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n"
               f"Content-Length: 0\r\n\r\n")
        mutated = rng.random() < 0.2
        reply = _raw(port, _mutate(rng, req.encode()) if mutated else req.encode(),
                     half_close=mutated)
        assert mutated or reply, (method, path)
        assert _status(reply) < 500 or not reply, (method, path, reply[:300])
    ok = _raw(port, (f"GET /api/nodes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: "
                     f"Bearer {head.server.token}\r\nConnection: close\r\n\r\n").encode(),
              half_close=False)
    assert _status(ok) == 200
    _head_answers(head)


def test_state_socket_requests(head, tmp_path):
    from nbray.runtime.state_server import query

    rng = random.Random(SEED + 4)
    marker = str(tmp_path / "pwned")
    path = nbray.runtime.context.current_driver().state_server.path
    evil = pickle.dumps(Planted(marker))
    for _ in range(CASES):
        data = rng.choice([evil, os.urandom(rng.randint(1, 4096)),
                           json.dumps({"op": rng.choice(["summary", "memory", "nodes", "x"]),
                                       "args": {"limit": rng.choice([-1, "a", None, 10**30]),
                                                "bogus": 1}}).encode() + b"\n",
                           _mutate(rng, b'{"op": "summary", "args": {}}\n'),
                           b"\n" * rng.randint(1, 10)])
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        assert json.loads(reply)["ok"] in (True, False)
    assert not os.path.exists(marker)
    assert query(path, "summary")["nodes"] >= 1
    _head_answers(head)
