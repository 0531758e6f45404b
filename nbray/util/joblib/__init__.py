"""`nbray.util.joblib`, as `ray.util.joblib`: a joblib parallel backend running on nbray.

    from nbray.util.joblib import register_ray
    register_ray()
    with joblib.parallel_backend("ray"):
        Parallel(n_jobs=-1)(delayed(f)(i) for i in range(100))

joblib is not a dependency of nbray: it is imported when `register_ray()` is called.
"""

from __future__ import annotations

__all__ = ["register_ray"]


def register_ray() -> None:
    """Register the nbray backend with joblib under the names "ray" and "nbray".

    Raises:
        ImportError: joblib (1.3 or newer) is not installed.
    """
    try:
        from joblib.parallel import register_parallel_backend
    except ImportError as e:
        raise ImportError("nbray.util.joblib needs joblib, which is not installed: "
                          "pip install joblib") from e
    from .backend import NbrayBackend

    register_parallel_backend("ray", NbrayBackend)
    register_parallel_backend("nbray", NbrayBackend)
