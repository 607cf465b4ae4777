"""memgov.threads: the BLAS and OpenMP thread pools of this process (memgov/threads.h, docs/threads.md).

::

    import numpy as np, memgov.threads

    for pool in memgov.threads.pools():          # numpy's OpenBLAS, an OpenMP runtime, ...
        print(pool.name, pool.version, pool.threads, pool.path)
    with memgov.threads.limit_pools(1):         # every pool at one thread inside the block
        np.dot(a, b)
    env = memgov.threads.child_env(2)           # os.environ with OMP_NUM_THREADS=2, OPENBLAS_NUM_THREADS=2, ...
    subprocess.run(cmd, env=env)

The OpenMP runtimes' count is the calling thread's (omp_set_num_threads acts on the calling thread only); numpy's
OpenBLAS on Debian is built with pthreads and has one count for the whole process (docs/threads.md).
"""
from __future__ import annotations

import ctypes
import dataclasses
import os
import warnings
from typing import Dict, List, Mapping, Optional

from . import _lib
from ._lib import LIB
from .errors import RangeError, StateError, check, error_for

#: The largest thread count the pool calls accept (MEMGOV_POOLS_MAX_THREADS).
MAX_THREADS = _lib.POOLS_MAX_THREADS


@dataclasses.dataclass(frozen=True)
class Pool:
    """One BLAS or OpenMP thread pool loaded in the process (memgov_pool_info). ``kind`` is one of "openblas",
    "blis", "mkl", "gnu_openmp", "llvm_openmp", "other_openmp"; ``name`` the library's short name ("openblas",
    "libgomp", "libomp", ...); ``version`` "" where the library does not say; ``threading`` its threading layer
    ("pthreads", "openmp", "disabled" or ""); ``threads`` what its own getter answers now (for a per-thread pool,
    as the calling thread sees it). ``per_thread``: the limit acts on the calling thread only (OpenMP);
    ``read_only``: memgov never changes this pool (no setter, or an answer it does not trust)."""
    kind: str
    name: str
    path: str
    version: str
    threading: str
    threads: int
    per_thread: bool
    read_only: bool


def _describe(snapshot: int) -> List[Pool]:
    out = []
    for i in range(LIB.memgov_pools_count(snapshot)):
        info = _lib.PoolInfo.new()
        check(LIB.memgov_pools_get(snapshot, i, ctypes.byref(info)))
        out.append(Pool(kind=_lib.POOL_KINDS.get(info.kind, "unknown"), name=_lib.text(info.name),
                        path=_lib.text(info.path), version=_lib.text(info.version),
                        threading=_lib.text(info.threading), threads=int(info.threads),
                        per_thread=bool(info.flags & _lib.POOL_PER_THREAD),
                        read_only=bool(info.flags & _lib.POOL_READ_ONLY)))
    return out


def _find() -> int:
    handle = ctypes.c_void_p()
    check(LIB.memgov_pools_find(ctypes.byref(handle)))
    return int(handle.value or 0)


def pools() -> List[Pool]:
    """The BLAS and OpenMP pools loaded in the process now, OpenMP runtimes first (memgov_pools_find). An empty
    list when none is loaded (numpy not imported yet, for one)."""
    snapshot = _find()
    try:
        return _describe(snapshot)
    finally:
        LIB.memgov_pools_destroy(snapshot)


def _check_threads(threads: int) -> int:
    """threads as a C int; values that fit one are range-checked by the C call, with its message."""
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int, not {type(threads).__name__}")
    if not -2**31 <= threads < 2**31:
        raise RangeError(f"{threads} threads is outside [1, {MAX_THREADS}] (MEMGOV_POOLS_MAX_THREADS)")
    return threads


class PoolLimit:
    """Every pool found on entry limited to ``threads`` inside a ``with`` block, and put back to its previous count
    on exit (memgov_pools_limit / memgov_pools_restore). Per-thread pools (OpenMP) are limited for the thread
    that enters, so exit on that thread. A pool whose setter does not take is named in a RuntimeWarning; the
    others are limited all the same. ``pools`` lists what the block limited (as found on entry)."""

    def __init__(self, threads: int) -> None:
        self.threads = _check_threads(threads)
        self._snapshot = 0
        self.pools: List[Pool] = []

    def __enter__(self) -> "PoolLimit":
        if self._snapshot:
            raise StateError("this PoolLimit is already entered; make a new one to nest")
        snapshot = _find()
        status = LIB.memgov_pools_limit(snapshot, self.threads)
        if status != 0:
            err = error_for(status)
            if not isinstance(err, StateError):  # the range check: nothing was changed
                LIB.memgov_pools_destroy(snapshot)
                raise err
            warnings.warn(f"memgov: {err}", RuntimeWarning, stacklevel=2)
        self._snapshot = snapshot
        self.pools = _describe(snapshot)
        return self

    def __exit__(self, *exc: object) -> None:
        snapshot, self._snapshot = self._snapshot, 0
        if snapshot:
            try:
                check(LIB.memgov_pools_restore(snapshot))
            finally:
                LIB.memgov_pools_destroy(snapshot)


def limit_pools(threads: int) -> PoolLimit:
    """A context manager limiting every BLAS and OpenMP pool loaded now to ``threads`` (1 ..
    MAX_THREADS, else memgov.RangeError on entry) and restoring their counts on exit."""
    return PoolLimit(threads)


def env_names() -> List[str]:
    """The environment variables child_env() sets (memgov_pools_env_name)."""
    names = []
    while True:
        name = LIB.memgov_pools_env_name(len(names))
        if name is None:
            return names
        names.append(name.decode())


def child_env(threads: int, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """A copy of ``base`` (default: os.environ) in which every pool variable (env_names(): OMP_NUM_THREADS,
    OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, ...) is ``threads``, for subprocess's ``env=``: the child's pools
    start at that size (memgov_pools_child_env; threads 1 .. MAX_THREADS, else memgov.RangeError)."""
    threads = _check_threads(threads)
    src = os.environ if base is None else base
    entries = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in src.items()]
    array = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    envp = ctypes.POINTER(ctypes.c_char_p)()
    check(LIB.memgov_pools_child_env(array, threads, ctypes.byref(envp)))
    try:
        out: Dict[str, str] = {}
        i = 0
        while envp[i] is not None:
            key, _, value = envp[i].partition(b"=")
            out[os.fsdecode(key)] = os.fsdecode(value)
            i += 1
        return out
    finally:
        LIB.memgov_pools_child_env_free(envp)


__all__ = ["MAX_THREADS", "Pool", "PoolLimit", "child_env", "env_names", "limit_pools", "pools"]
