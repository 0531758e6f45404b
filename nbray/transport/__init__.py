"""Moving messages between processes: framing over local sockets (websockets for remote nodes)."""
