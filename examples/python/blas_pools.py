#!/usr/bin/python3
"""numpy's BLAS pool: list the BLAS and OpenMP pools loaded in the process, run a matrix product with every pool
limited to one thread, and start a child process whose pools start at one thread (memgov.threads)."""
import subprocess
import sys

import numpy as np

import memgov

for pool in memgov.threads.pools():
    print(f"{pool.name:9} {pool.version or '-':8} {pool.threading or '-':9} {pool.threads} thread(s)  {pool.path}")

before = {p.name: p.threads for p in memgov.threads.pools()}
a = np.random.default_rng(0).random((500, 500))
with memgov.threads.limit_pools(1) as limit:
    print("inside the block:", {p.name: p.threads for p in memgov.threads.pools()})
    product = a @ a
after = {p.name: p.threads for p in memgov.threads.pools()}
print("after the block: ", after)
assert all(p.threads == 1 for p in limit.pools if not p.read_only)
assert after == before

child = "import numpy, memgov; print('child:', {p.name: p.threads for p in memgov.threads.pools()})"
subprocess.run([sys.executable, "-c", child], env=memgov.threads.child_env(1), check=True)
