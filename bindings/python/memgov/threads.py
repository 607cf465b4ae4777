"""memgov.threads: thread leases and the BLAS and OpenMP thread pools of this process (memgov/threads.h,
docs/threads.md).

::

    with gov.threads(n_jobs=-1, bytes_per_worker="1GiB") as n:   # n threads granted, their memory reserved,
        model = RandomForestClassifier(n_jobs=n).fit(X, y)         # numpy's BLAS at n threads inside

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
from typing import Any, Dict, List, Mapping, Optional

from . import _lib
from ._lib import LIB
from .errors import InvalidArgumentError, RangeError, StateError, check, error_for
from .sizes import SizeLike, parse_size

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


# ---- thread leases (memgov_threads_acquire; the governor's gov.threads()) ------------------------------------


def _resolve_n_jobs(n_jobs: Optional[int], capacity: int) -> int:
    """joblib's n_jobs: None or 1 = one thread, n > 0 = n, -1 = all (the governor's capacity), -2 = all but one..."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise TypeError(f"n_jobs must be an int or None, not {type(n_jobs).__name__}")
    if n_jobs == 0:
        raise InvalidArgumentError("n_jobs == 0 has no meaning (joblib's rule): use 1 for one thread, -1 for all")
    want = n_jobs if n_jobs > 0 else capacity + 1 + n_jobs
    if want < 1:
        raise InvalidArgumentError(f"n_jobs={n_jobs} leaves no thread of the capacity of {capacity} "
                                   f"(n_jobs=-k means capacity + 1 - k)")
    return min(want, _lib.THREADS_MAX_WANT) if n_jobs < 0 else want


class ThreadLease:
    """Worker threads leased from a governor for a ``with`` block (memgov_threads_acquire): ``with
    gov.threads(n_jobs=-1, bytes_per_worker="1GiB") as n:`` gives the granted count n (>= 1) for joblib's or
    scikit-learn's ``n_jobs``; the workers' memory (n x bytes_per_worker) is reserved on the budget until the
    block ends; with limit_pools (the default) every BLAS and OpenMP pool loaded in the process runs at n threads
    inside the block (docs/threads.md says which pools are per thread). Leases taken inside the block, by this
    thread, are nested in it. ``count``, ``target`` (what the governor asks the holder to shrink or grow to after a
    mode or limit change) and ``resize()`` are available while it is held."""

    def __init__(self, gov: Any, want: int, bytes_per_worker: int, budget: Optional[int], flags: int,
                 timeout: Optional[float]) -> None:
        self._gov = gov  # keeps the governor alive while the lease is held
        self.want = want
        self._bytes = bytes_per_worker
        self._budget = budget
        self._flags = flags
        self._timeout = timeout
        self._h = 0

    def __enter__(self) -> int:
        if self._h:
            raise StateError("this lease is already held; make a new one to nest")
        h = ctypes.c_void_p()
        gov = self._gov._check()
        if self._timeout is None:
            st = LIB.memgov_threads_acquire(gov, self.want, self._bytes, self._budget, self._flags, ctypes.byref(h))
        else:
            ns = _lib.NO_TIMEOUT if self._timeout == float("inf") else max(0, int(self._timeout * 1e9))
            st = LIB.memgov_threads_acquire_wait(gov, self.want, self._bytes, self._budget, self._flags, ns,
                                                 ctypes.byref(h))
        check(st)
        self._h = int(h.value or 0)
        return self.count

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Gives the threads and their memory back and restores the pools; idempotent."""
        h, self._h = self._h, 0
        if h:
            check(LIB.memgov_threads_lease_free(h))

    @property
    def held(self) -> bool:
        return self._h != 0

    @property
    def count(self) -> int:
        """Threads granted now (the calling thread included); 0 once released."""
        return int(LIB.memgov_threads_count(self._h)) if self._h else 0

    @property
    def target(self) -> int:
        """The count the governor asks for now (lower after a mode change or a limit drop); 0 once released."""
        return int(LIB.memgov_threads_target(self._h)) if self._h else 0

    def resize(self, n: int) -> int:
        """Shrinks (always) or grows (as far as free threads and memory allow) to n; returns the new count. The
        pools follow the new count."""
        if not self._h:
            raise StateError("the lease is not held")
        got = ctypes.c_uint()
        check(LIB.memgov_threads_resize(self._h, n, ctypes.byref(got)))
        return int(got.value)


def capacity(gov: Any) -> int:
    """The governor's thread capacity now (memgov_threads_get_stats: min of the CPUs in the affinity mask, the
    cgroup quota, the cores and threads.max, as the mode resolves it)."""
    st = _lib.ThreadsStats.new()
    check(LIB.memgov_threads_get_stats(gov._check(), ctypes.byref(st)))
    return int(st.capacity)


def lease(gov: Any, n_jobs: Optional[int] = -1, bytes_per_worker: Optional[SizeLike] = None,
          budget: Any = None, limit_pools: bool = True, all_or_nothing: bool = False,
          timeout: Optional[float] = None) -> ThreadLease:
    """A ThreadLease of ``gov`` (what ``gov.threads()`` returns): n_jobs as joblib counts (-1 = the capacity,
    -2 = all but one, None = 1); bytes_per_worker (int or text such as "1GiB"; None = the key
    threads.bytes_per_worker, 0 = no memory bound) reserved on ``budget`` (default: the root) per granted
    thread; limit_pools: limit the BLAS and OpenMP pools to the grant inside the block; all_or_nothing: exactly
    n_jobs or an error; timeout: seconds to wait for threads (None = do not wait, inf = no limit). Errors on
    entry: memgov.BusyError (no thread free), memgov.BudgetExceededError (the headroom does not cover one
    worker), memgov.RangeError (more than 4096 asked)."""
    want = _resolve_n_jobs(n_jobs, capacity(gov))
    nbytes = _lib.THREADS_DEFAULT_BYTES if bytes_per_worker is None else parse_size(bytes_per_worker,
                                                                                      "bytes_per_worker")
    flags = (_lib.THREADS_LIMIT_POOLS if limit_pools else 0) | (_lib.THREADS_ALL_OR_NOTHING if all_or_nothing else 0)
    return ThreadLease(gov, want, nbytes, None if budget is None else budget.handle, flags, timeout)


__all__ = ["MAX_THREADS", "Pool", "PoolLimit", "ThreadLease", "capacity", "child_env", "env_names", "lease",
           "limit_pools", "pools"]
