"""Processes, loops and I/O: the node, workers, the driver's client, ObjectRef and remote functions."""
