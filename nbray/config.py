"""Cluster configuration: defaults, NBRAY_* environment overrides and validation."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Optional

INLINE_THRESHOLD = 100 * 1024  # objects up to this size stay in process memory (seed 000)
MIN_STORE_BYTES = 16 * 2**20


def _dev_shm_bytes() -> Optional[int]:
    try:
        return shutil.disk_usage("/dev/shm").total
    except OSError:
        return None


def default_store_bytes() -> int:
    """30% of RAM, capped by /dev/shm's size (Ray's default share)."""
    try:
        import psutil

        total = psutil.virtual_memory().total
    except Exception:  # pragma: no cover - psutil is a dependency
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    size = int(total * 0.3)
    shm = _dev_shm_bytes()
    if shm:
        size = min(size, int(shm * 0.9))
    return max(size, MIN_STORE_BYTES)


@dataclass(frozen=True)
class Config:
    num_cpus: int = -1                     # -1: one per core; 0: none (the driver only submits)
    object_store_memory: int = 0           # 0: default_store_bytes()
    resources: Dict[str, float] = field(default_factory=dict)
    inline_threshold: int = INLINE_THRESHOLD
    max_workers: int = 0                   # 0: max(64, 8 * num_cpus); extra ones stand in for blocked workers
    idle_worker_timeout_s: float = 10.0    # extra workers beyond num_cpus exit after this
    timeline_events: int = 10_000          # task runs timeline() keeps, newest (0: none)
    remote_pipeline_depth: int = 8         # tasks in flight per worker of another node (1: one at a time)
    log_to_driver: bool = True
    namespace: str = "default"
    job_id: str = ""                       # set by init(); workers report it in their context
    spill_url: Optional[str] = None        # None: a private directory under the temp dir
    spill_options: Dict[str, Any] = field(default_factory=dict)  # fsspec storage options

    def resolved(self) -> "Config":
        num_cpus = self.num_cpus if self.num_cpus >= 0 else (os.cpu_count() or 1)
        store = self.object_store_memory or default_store_bytes()
        return replace(self, num_cpus=num_cpus, object_store_memory=store,
                       max_workers=self.max_workers or max(64, 8 * max(1, num_cpus)))

    @classmethod
    def from_env(cls, **overrides: Any) -> "Config":
        values: Dict[str, Any] = {}
        for f in fields(cls):
            env = os.environ.get("NBRAY_" + f.name.upper())
            if env is not None and f.name not in ("resources", "spill_options", "spill_url"):
                default: Any = f.default  # these fields' defaults: an int, float, str or bool
                values[f.name] = type(default)(env) if not isinstance(default, bool) \
                    else env.lower() in ("1", "true", "yes")
        if os.environ.get("NBRAY_SPILL_URL"):
            values["spill_url"] = os.environ["NBRAY_SPILL_URL"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
