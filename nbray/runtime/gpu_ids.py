"""Which GPUs of a node each worker holds: concrete ids 0..n-1 behind the "GPU" amount.

The scheduler counts GPUs as an amount, like CPUs.  A task or actor that asks for
GPUs also needs to know *which* ones (`get_gpu_ids()`, CUDA_VISIBLE_DEVICES), so
each node's GPUs are slots with a free fraction each: a request of one or more
whole GPUs takes the lowest fully free slots; a fraction goes to the fullest slot
it still fits in, so fractional work packs onto few GPUs (as Ray does).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

_EPS = 1e-9


class GpuSlots:
    def __init__(self) -> None:
        self._free: Dict[str, List[float]] = {}                     # node id -> free per GPU
        self._held: Dict[str, Tuple[str, List[Tuple[int, float]]]] = {}  # worker -> (node, takes)

    def assign(self, node_id: str, total: float, worker_id: str, amount: float) -> List[int]:
        """Give `worker_id` GPUs worth `amount` on `node_id` (which has `total`); their ids."""
        self.release(worker_id)
        if amount <= 0:
            return []
        free = self._free.get(node_id)
        if free is None or len(free) != int(total):
            free = self._free[node_id] = [1.0] * int(total)
        takes: List[Tuple[int, float]] = []
        if amount >= 1 - _EPS:
            whole = [i for i, f in enumerate(free) if f >= 1 - _EPS][:int(round(amount))]
            takes = [(i, 1.0) for i in whole]
        else:
            fits = [i for i, f in enumerate(free) if f >= amount - _EPS]
            if fits:
                best = min(fits, key=lambda i: (free[i], i))
                takes = [(best, amount)]
        for i, take in takes:
            free[i] -= take
        self._held[worker_id] = (node_id, takes)
        return [i for i, _ in takes]

    def release(self, worker_id: str) -> None:
        held = self._held.pop(worker_id, None)
        if held is None:
            return
        node_id, takes = held
        free = self._free.get(node_id)
        if free is None:
            return
        for i, take in takes:
            if i < len(free):
                free[i] = min(1.0, free[i] + take)
