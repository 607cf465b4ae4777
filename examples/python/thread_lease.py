#!/usr/bin/python3
"""Threads for scikit-learn from a governor: `with gov.threads(n_jobs=-1, bytes_per_worker=...) as n:` grants n
threads (bounded by the CPUs and by the memory each worker needs), reserves their memory, and runs numpy's BLAS
at n threads inside the block; after it, everything is as before."""
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

import memgov

X = np.random.default_rng(0).random((2000, 16))
y = (X[:, 0] + X[:, 1] > 1).astype(int)
blas = lambda: {p.name: p.threads for p in memgov.threads.pools() if p.kind == "openblas"}  # noqa: E731

with memgov.Governor(limit="1GiB", env=False) as gov:
    before = blas()
    with gov.threads(n_jobs=-1, bytes_per_worker="64MiB") as n:
        print(f"granted {n} thread(s); reserved {gov.root.stats().reserved >> 20} MiB; BLAS inside: {blas()}")
        score = KNeighborsClassifier(n_jobs=n).fit(X[:1500], y[:1500]).score(X[1500:], y[1500:])
        print(f"accuracy {score:.3f}")
        assert set(blas().values()) <= {n}
    print(f"BLAS after: {blas()} (before: {before})")
    assert blas() == before and gov.root.stats().reserved == 0
