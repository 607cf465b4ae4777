#!/usr/bin/python3
"""numpy's handler is per thread (a context variable): a new thread starts with numpy's default. Three ways to
run worker threads inside a budget: budget.bind(fn), a pool initializer, or a copied context."""
import concurrent.futures
import contextvars

import numpy as np

import memgov

name = np.core.multiarray.get_handler_name

with memgov.Governor(limit="256MiB", env=False) as gov:
    workers = gov.budget("workers", hard="64MiB")
    with workers.numpy():
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            print("plain submit:       ", pool.submit(lambda: name(np.ones(4))).result())
            print("budget.bind(fn):    ", pool.submit(workers.bind(lambda: name(np.ones(4)))).result())
            ctx = contextvars.copy_context()
            print("copied context:     ", pool.submit(ctx.run, lambda: name(np.ones(4))).result())
            del ctx  # a context holds the handler, and so the budget, as long as it lives
    with concurrent.futures.ThreadPoolExecutor(2, initializer=workers.install_numpy_handler) as pool:
        sums = list(pool.map(lambda n: float(np.ones(n).sum()), [10, 1000, 100000]))
        print("pool initializer:   ", pool.submit(lambda: name(np.ones(4))).result(), sums)
    print("allocations charged to 'workers':", workers.stats().allocations)
    assert workers.stats().allocations >= 5
