"""Exact k nearest neighbours with scratch memory under a budget's cap (memgov/knn.h, libmemgov_knn): knn()."""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Tuple

from . import _lib
from .errors import UnsupportedError, check

METRICS = {"l2": 1, "ip": 2, "inner_product": 2, "cosine": 3}
#: The scratch cap when no budget is given.
DEFAULT_SCRATCH = 256 << 20


def knn(base: Any, queries: Any = None, k: int = 15, metric: str = "l2", budget: Any = None,
        threads: int = 1, scratch_bytes: Optional[int] = None) -> Tuple[Any, Any]:
    """The k nearest rows of ``base`` (n x d, converted to C-contiguous float32) for each row of ``queries``
    (m x d), or for each row of ``base`` itself without the row itself when queries is None (a KNN graph, as
    scikit-learn's ``kneighbors()`` without X). Returns ``(indices, distances)``: int64 and float32 arrays of
    shape (m, k), nearest first, ties by the lower index; metric "l2" gives squared Euclidean distances (as faiss),
    "ip" inner products (largest first), "cosine" 1 - cosine similarity. Missing neighbours (k too large) are -1.

    The scratch (distance tiles, norms, heaps) is allocated from ``budget`` (a memgov.Budget) and sized by the
    chunk planner from its headroom, so it never exceeds the budget's cap; without a budget it is capped at
    ``scratch_bytes`` (default 256 MiB). ``threads`` worker threads each call the BLAS (set
    OPENBLAS_NUM_THREADS=1 when threads > 1). Raises memgov.BudgetExceededError when the cap is too small or
    a block's scratch is refused (the result is then not returned), UnsupportedError without libmemgov_knn."""
    import numpy as np

    lib = _lib.knn_library()
    if lib is None:
        raise UnsupportedError("memgov.knn needs libmemgov_knn.so.1 (built where OpenBLAS is found): "
                               + _lib.knn_library_error(), 12)
    if metric not in METRICS:
        raise ValueError(f"knn: metric must be one of {sorted(METRICS)}, got {metric!r}")
    b = np.ascontiguousarray(base, dtype=np.float32)
    if b.ndim != 2:
        raise ValueError(f"knn: base must be 2-dimensional, got shape {b.shape}")
    q = None if queries is None else np.ascontiguousarray(queries, dtype=np.float32)
    if q is not None and (q.ndim != 2 or q.shape[1] != b.shape[1]):
        raise ValueError(f"knn: queries must be (m, {b.shape[1]}), got shape {q.shape}")
    m = b.shape[0] if q is None else q.shape[0]
    idx = np.empty((m, k), dtype=np.int64)
    dist = np.empty((m, k), dtype=np.float32)
    opts = _lib.KnnOptions.new()
    lib.memgov_knn_options_init(ctypes.byref(opts))
    opts.metric = METRICS[metric]
    opts.exclude_self = 1 if q is None else 0
    opts.threads = threads
    if budget is not None:
        opts.scratch = budget.handle
    opts.scratch_bytes = scratch_bytes if scratch_bytes is not None else (0 if budget is not None
                                                                          else DEFAULT_SCRATCH)
    fp = ctypes.POINTER(ctypes.c_float)
    check(lib.memgov_knn(b.ctypes.data_as(fp), b.shape[0], None if q is None else q.ctypes.data_as(fp),
                         0 if q is None else q.shape[0], b.shape[1], k, ctypes.byref(opts),
                         idx.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), dist.ctypes.data_as(fp), None))
    return idx, dist
