#!/usr/bin/python3
"""numpy allocation through a memgov budget (memgov's numpy handler) against numpy's default handler, in the
same run: `np.empty(n); del` for n = 8 B, 1 KiB, 64 KiB, 8 MiB, and a pandas groupby workload. Prints one table
(median ns per operation over the rounds, ratio memgov / default) and the machine. Not a test.

usage: PYTHONPATH=BUILD/bindings/python /usr/bin/python3 bench/python_numpy.py [ROUNDS [SCALE]]
  ROUNDS: rounds per case (default 15; default and memgov rounds alternate so drift hits both alike)
  SCALE:  multiplies the operations per round (default 1.0; 0.2 for a quick look)
"""
import os
import platform
import statistics
import sys
import time

import numpy as np

import memgov

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
SCALE = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
SIZES = [(8, "8 B", 200_000), (1024, "1 KiB", 200_000), (64 << 10, "64 KiB", 100_000), (8 << 20, "8 MiB", 2_000)]


def alloc_loop(n, ops):
    empty, u8 = np.empty, np.uint8
    t0 = time.perf_counter_ns()
    for _ in range(ops):
        empty(n, u8)  # allocated and freed (the result is dropped at once)
    return (time.perf_counter_ns() - t0) / ops


def pandas_setup():
    import pandas as pd
    rng = np.random.default_rng(1)
    rows = 1_000_000
    keys = rng.integers(0, 10_000, rows)
    vals = rng.random(rows)

    def work():
        t0 = time.perf_counter_ns()
        df = pd.DataFrame({"k": keys, "v": vals, "w": vals * 2.0})
        g = df.groupby("k").agg({"v": "sum", "w": "mean"})
        df["z"] = df["v"] - df["w"]
        g.sort_values("v")
        del df, g
        return time.perf_counter_ns() - t0
    return work


def measure(case, default_fn, memgov_fn):
    d, m = [], []
    default_fn(), memgov_fn()  # warm-up: first touches, handler caches, jemalloc extents
    for _ in range(ROUNDS):
        d.append(default_fn())
        m.append(memgov_fn())
    md, mm = statistics.median(d), statistics.median(m)
    spread = lambda xs: (max(xs) - min(xs)) / statistics.median(xs) * 100  # noqa: E731
    print(f"| {case:<22} | {md:>12,.0f} | {mm:>12,.0f} | {mm / md:5.2f}x | {spread(d):5.0f}% / {spread(m):.0f}% |")
    return md, mm


def main():
    p = memgov.probe()
    print(f"machine: {p.cpu_model or platform.processor()}, {p.logical_cpus} logical CPUs "
          f"(load average {os.getloadavg()[0]:.2f}), {memgov.format_bytes(p.ram_total)} RAM; "
          f"numpy {np.__version__}, Python {platform.python_version()}, memgov {memgov.__version__} "
          f"({memgov.build_info})")
    print(f"rounds {ROUNDS}, scale {SCALE}; values: median ns per operation (pandas: per workload run)")
    print()
    print("| case                   |  default (ns) |  memgov (ns) | ratio | spread (max-min)/median default / memgov |")
    print("|------------------------|--------------:|-------------:|------:|---------------------|")
    with memgov.Governor(limit="4GiB", env=False) as gov:
        b = gov.budget("bench", hard="2GiB")
        scope = b.numpy()
        for n, label, ops in SIZES:
            ops = max(10, int(ops * SCALE))

            def in_budget(n=n, ops=ops):
                with scope:
                    return alloc_loop(n, ops)
            measure(f"np.empty({label}); del", lambda n=n, ops=ops: alloc_loop(n, ops), in_budget)
        try:
            work = pandas_setup()
        except ImportError:
            print("| pandas groupby         | (pandas missing) | | | |")
        else:
            def pandas_in_budget():
                with scope:
                    return work()
            measure("pandas groupby (1M rows)", work, pandas_in_budget)
        st = b.stats()
        print()
        print(f"budget 'bench' after the run: used {st.used} B, peak {memgov.format_bytes(st.peak)}, "
              f"allocations {st.allocations}, frees {st.frees}")
        b.destroy()


if __name__ == "__main__":
    main()
