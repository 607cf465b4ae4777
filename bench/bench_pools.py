#!/usr/bin/python3
"""The cost of limiting every BLAS/OpenMP pool of a numpy process to one thread and restoring it: memgov against
threadpoolctl (Debian's python3-threadpoolctl), same process, same machine, interleaved rounds. Prints medians
(microseconds per limit + restore) and ratios as one markdown table, and the number of loaded objects walked.

  memgov C, kept snapshot   memgov_pools_limit + memgov_pools_restore on a snapshot found once (ctypes calls)
  memgov C, find each time  memgov_pools_find + limit + restore + destroy (ctypes calls); nothing was loaded
                            since the last find, so the find reuses its walk
  memgov C, walk each time  the same after a dlopen + dlclose of a small library (libcmocka), which makes the find
                            walk the loaded objects again, minus the dlopen + dlclose alone (measured apart)
  memgov.threads            `with memgov.threads.limit_pools(1):` (finds and describes the pools each time)
  gov.threads(...)          `with gov.threads(n_jobs=1, bytes_per_worker=0):` a lease with and without limit_pools
  threadpoolctl             `with threadpoolctl.threadpool_limits(limits=1):` (finds them each time)

usage: PYTHONPATH=BUILD/bindings/python /usr/bin/python3 bench/bench_pools.py [REPS [ROUNDS]]  (defaults 500, 7)
"""
import _ctypes
import ctypes
import os
import statistics
import sys
import time

import numpy as np
import threadpoolctl

import memgov
import memgov.threads as mt
from memgov._lib import LIB

REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 500
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
np.ones(2) @ np.ones(2)

kept = ctypes.c_void_p()
assert LIB.memgov_pools_find(ctypes.byref(kept)) == 0


def c_kept():
    LIB.memgov_pools_limit(kept, 1)
    LIB.memgov_pools_restore(kept)


def c_find():
    h = ctypes.c_void_p()
    LIB.memgov_pools_find(ctypes.byref(h))
    LIB.memgov_pools_limit(h, 1)
    LIB.memgov_pools_restore(h)
    LIB.memgov_pools_destroy(h)


SMALL = "libcmocka.so.0"  # not loaded by numpy; bootstrap.sh installs it (libcmocka-dev)


def reload_small():
    _ctypes.dlclose(_ctypes.dlopen(SMALL, os.RTLD_NOW))


def c_walk():
    reload_small()
    c_find()


def py_memgov():
    with mt.limit_pools(1):
        pass


GOV = memgov.Governor(env=False)


def py_lease_plain():
    with GOV.threads(n_jobs=1, bytes_per_worker=0, limit_pools=False):
        pass


def py_lease_pools():
    with GOV.threads(n_jobs=1, bytes_per_worker=0):
        pass


def py_threadpoolctl():
    with threadpoolctl.threadpool_limits(limits=1):
        pass


cases = {"memgov C, kept snapshot": c_kept, "memgov C, find each time": c_find, "memgov C, walk each time": c_walk,
         "dlopen + dlclose alone": reload_small, "memgov.threads": py_memgov,
         "gov.threads(n_jobs=1, limit_pools=False) (a lease alone)": py_lease_plain,
         "gov.threads(n_jobs=1) (a lease limiting the pools)": py_lease_pools, "threadpoolctl": py_threadpoolctl}
times = {name: [] for name in cases}
for _ in range(ROUNDS):
    for name, fn in cases.items():
        fn()
        t0 = time.perf_counter()
        for _ in range(REPS):
            fn()
        times[name].append((time.perf_counter() - t0) / REPS * 1e6)
LIB.memgov_pools_destroy(kept)

libs = len({line.split()[-1] for line in open("/proc/self/maps") if ".so" in line.split()[-1]})
ref = statistics.median(times["threadpoolctl"])
print(f"pools: {[(p.name, p.version, p.threads) for p in mt.pools()]}; {libs} shared objects loaded; "
      f"{os.cpu_count()} CPUs; {REPS} reps x {ROUNDS} rounds")
print("| limit to 1 + restore | median µs | vs threadpoolctl |")
print("|---|---|---|")
medians = {name: statistics.median(t) for name, t in times.items()}
medians["memgov C, walk each time"] -= medians.pop("dlopen + dlclose alone")
for name, m in medians.items():
    print(f"| {name} | {m:.2f} | {m / ref:.3f}x |")
