"""A websocket connection writes messages in the order they were sent, whichever thread
sends them: a send from the network loop's own thread must not overtake one another thread
queued a moment before (pipelined tasks run in arrival order, and the head's picture of which
one runs depends on it)."""

from __future__ import annotations

import pickle
import threading

from nbray.transport.ws import LoopThread, WsConnection


class RecordingSocket:
    """Stands in for the Tornado socket: records what is written, in order."""

    def __init__(self) -> None:
        self.written = []

    def write_message(self, data: bytes, binary: bool = False) -> None:
        self.written.append(pickle.loads(data))


def test_a_send_on_the_loop_does_not_overtake_one_queued_from_another_thread():
    loop = LoopThread(name="test-ws-order")
    try:
        conn = WsConnection(loop, "peer")
        sock = RecordingSocket()
        conn.attach(sock)  # type: ignore[arg-type]
        queued, done = threading.Event(), threading.Event()

        def on_the_loop() -> None:
            queued.wait(10)  # another thread's send is now waiting behind this callback
            conn.send(("b",))
            done.set()

        loop.call(on_the_loop)
        conn.send(("a",))  # from this thread: queued on the loop
        queued.set()
        assert done.wait(10)
        flushed = threading.Event()
        loop.call(flushed.set)
        assert flushed.wait(10)
        assert sock.written == [("a",), ("b",)]
        # Many senders at once: each one's messages stay in its order.
        per_thread = 200

        def sender(k: int) -> None:
            for i in range(per_thread):
                conn.send((k, i))

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for i in range(per_thread):
            loop.call(conn.send, ("loop", i))
        for t in threads:
            t.join(30)
        flushed.clear()
        loop.call(flushed.set)
        assert flushed.wait(10)
        for k in [0, 1, 2, "loop"]:
            mine = [m[1] for m in sock.written[2:] if m[0] == k]
            assert mine == list(range(per_thread))
    finally:
        loop.stop()
