#!/usr/bin/python3
"""Exact kNN graph (queries = base, k nearest excluding the point itself) of N x 64 float32, k = 15: memgov.knn
(libmemgov_knn on OpenBLAS, scratch capped by a budget) against scikit-learn NearestNeighbors(algorithm="brute")
and faiss IndexFlatL2, with one thread and all threads; median of REPEATS; agreement of the neighbour indices
with faiss's. Thread counts: OPENBLAS_NUM_THREADS / OMP_NUM_THREADS are set per contender in child processes.

usage: bench_knn.py [N [REPEATS [CAP_MiB]]]   (default 100000, 3, 256)
"""
import json
import os
import statistics
import subprocess
import sys
import time

D, K = 64, 15


def data(n):
    import numpy as np
    return np.random.default_rng(0).standard_normal((n, D)).astype(np.float32)


def run_one(which, n, threads, cap_mib):
    import numpy as np
    x = data(n)
    t = time.perf_counter()
    if which == "memgov":
        import memgov
        gov = memgov.Governor(limit=(cap_mib + 64) << 20, env=False)
        scratch = gov.budget("knn-scratch", hard=cap_mib << 20)
        idx, dist = memgov.knn(x, k=K, budget=scratch, threads=threads)
        elapsed = time.perf_counter() - t
        peak = scratch.stats().peak
    elif which == "sklearn":
        from sklearn.neighbors import NearestNeighbors
        nn = NearestNeighbors(n_neighbors=K, algorithm="brute", n_jobs=threads).fit(x)
        dist, idx = nn.kneighbors()  # X=None: each point's neighbours without itself
        elapsed = time.perf_counter() - t
        peak = 0
    else:
        import faiss
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexFlatL2(D)
        index.add(x)
        dist, idx = index.search(x, K + 1)
        elapsed = time.perf_counter() - t
        # drop each point itself (the first hit, or wherever it is among exact duplicates)
        keep = idx != np.arange(n)[:, None]
        idx = np.array([row[m][:K] for row, m in zip(idx, keep)])
        peak = 0
    np.save(f"/tmp/bench_knn_{which}_{threads}.npy", idx)
    return elapsed, peak


def main():
    args = sys.argv[1:]
    if args and args[0] == "--child":
        which, n, threads, cap = args[1], int(args[2]), int(args[3]), int(args[4])
        print(json.dumps(run_one(which, n, threads, cap)))
        return
    n = int(args[0]) if args else 100000
    repeats = int(args[1]) if len(args) > 1 else 3
    cap = int(args[2]) if len(args) > 2 else 256
    import numpy as np
    cores = os.cpu_count()
    print(f"bench_knn: {n} x {D} float32, k = {K}, queries = base (self excluded), median of {repeats}, "
          f"memgov scratch cap {cap} MiB, {cores} CPUs")
    print(f"{'contender':<34} {'threads':>7} {'seconds':>9} {'vs memgov':>10} {'same as faiss':>14} {'peak scratch':>13}")
    results = {}
    for threads in sorted({1, cores}):
        for which in ("memgov", "sklearn", "faiss"):
            env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                       OPENBLAS_NUM_THREADS="1" if which == "memgov" else str(threads))
            times, peak = [], 0
            for _ in range(repeats):
                out = subprocess.run([sys.executable, __file__, "--child", which, str(n), str(threads), str(cap)],
                                     env=env, check=True, capture_output=True, text=True).stdout
                t, peak = json.loads(out.strip().splitlines()[-1])
                times.append(t)
            results[(which, threads)] = (statistics.median(times), peak)
        ref = np.load(f"/tmp/bench_knn_faiss_{threads}.npy")
        base = results[("memgov", threads)][0]
        for which, label in (("memgov", "memgov.knn (OpenBLAS sgemm)"),
                             ("sklearn", "sklearn NearestNeighbors brute"), ("faiss", "faiss IndexFlatL2")):
            t, peak = results[(which, threads)]
            same = (np.load(f"/tmp/bench_knn_{which}_{threads}.npy") == ref).mean()
            print(f"{label:<34} {threads:>7} {t:>9.2f} {t / base:>10.2f} {same:>13.4%} "
                  f"{(str(peak >> 10) + ' KiB') if peak else '-':>13}")
    for f in os.listdir("/tmp"):
        if f.startswith("bench_knn_") and f.endswith(".npy"):
            os.remove(os.path.join("/tmp", f))


if __name__ == "__main__":
    main()
