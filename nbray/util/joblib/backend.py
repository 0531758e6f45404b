"""The joblib backend class: joblib's batches run in an `nbray.util.multiprocessing.Pool`.

joblib hands the backend batches of calls (`BatchedCalls`), sized automatically so each
takes a fraction of a second; each batch becomes one `apply_async` on the pool, so it runs
in one of the pool's actor processes and its result (or error) comes back through joblib's
own callback.  Imported only by `register_ray()`, since it needs joblib.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

try:
    from joblib._parallel_backends import (AutoBatchingMixin, FallbackToBackend,
                                           ParallelBackendBase, PoolManagerMixin,
                                           SequentialBackend)
except ImportError as e:  # pragma: no cover - register_ray() checks joblib first
    raise ImportError(f"nbray's joblib backend needs joblib 1.3 or newer ({e}): "
                      f"pip install -U joblib") from e

from ... import api
from ..multiprocessing import Pool

__all__ = ["NbrayBackend"]


def _cluster_cpus() -> int:
    if not api.is_initialized():
        api.init()  # as Ray's backend does for n_jobs=-1 without a cluster
    try:
        return max(1, int(api.cluster_resources().get("CPU", 1)))
    except RuntimeError:  # inside a worker: no cluster view
        return 1


class NbrayBackend(AutoBatchingMixin, PoolManagerMixin, ParallelBackendBase):
    """joblib's "ray" backend on nbray: one pool process (actor) per job slot.

    `n_jobs=-1` uses every CPU of the cluster, `-2` all but one, and so on; a larger
    `n_jobs` than the cluster has CPUs is capped at that count.  `ray_remote_args`
    (here, or in `parallel_backend("ray", ray_remote_args=...)`) are options for the
    pool's actors.
    """

    supports_retrieve_callback = True
    supports_return_generator = False
    supports_timeout = True

    def __init__(self, nesting_level: Optional[int] = None,
                 inner_max_num_threads: Optional[int] = None,
                 ray_remote_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.ray_remote_args = ray_remote_args
        super().__init__(nesting_level=nesting_level,
                         inner_max_num_threads=inner_max_num_threads, **kwargs)

    def effective_n_jobs(self, n_jobs: Optional[int]) -> int:
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return 1
        cpus = _cluster_cpus()
        if n_jobs < 0:
            return max(cpus + 1 + n_jobs, 1)
        return min(n_jobs, cpus)

    def configure(self, n_jobs: int = 1, parallel: Any = None, prefer: Optional[str] = None,
                  require: Optional[str] = None,
                  ray_remote_args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> int:
        n_jobs = self.effective_n_jobs(n_jobs)
        if n_jobs == 1:
            # One process would only add a round trip per batch: run in the caller.
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        self.parallel = parallel
        args = ray_remote_args if ray_remote_args is not None else self.ray_remote_args
        self._pool = Pool(processes=n_jobs, ray_remote_args=args)
        return n_jobs
