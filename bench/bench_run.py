"""memgov run's overhead (docs/benchmarks.md, "memgov run"): wall time and peak RSS of real workloads with and
without `memgov run` (cap far above need), interleaved in one run, and a malloc/free loop through the preload
library vs glibc vs LD_PRELOAD of Debian's libjemalloc.so.2.

usage: /usr/bin/python3 bench/bench_run.py BUILD_DIR workloads|pairs [REPS]   (REPS: runs per variant, default 5)

`workloads`: the programs, plain and under memgov run (and the pandas one also with LD_PRELOAD of Debian's
jemalloc, to tell jemalloc's share of the cost from memgov's); `pairs`: the malloc/free loop. About a minute
each on a 2-core machine.

Prints Markdown tables: medians of REPS runs. Each run goes through /usr/bin/time, whose %M (ru_maxrss of its
child and that child's children: under memgov run, the program) is the peak RSS, and %U + %S the CPU time; the
wall time is measured around it. (Spawned straight from this Python process, a child would inherit its RSS
high-water mark: Linux keeps it across exec.)"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1])
PART = sys.argv[2]
REPS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
MEMGOV = os.path.join(BUILD, "tools", "memgov")
PAIRS = os.path.join(BUILD, "bench", "bench_preload_pairs")
PRELOAD = os.path.join(BUILD, "src", "preload", "libmemgov-preload.so")
DEBIAN_JE = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
PY = "/usr/bin/python3"
TMP = tempfile.mkdtemp(prefix="memgov-bench-run.")
# One BLAS thread: OpenBLAS's spinning threads make CPU and wall times swing with the machine's load, and the
# comparison is about allocation.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

NUMPY = """
import numpy as np
rng = np.random.default_rng(0)
a = rng.standard_normal((700, 700))
for _ in range(3):
    a = np.tanh(a @ a.T / 700)
print(float(np.linalg.svd(a, compute_uv=False)[0]))
"""
PANDAS = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 600_000
df = pd.DataFrame({"k": rng.integers(0, 1000, n), "c": rng.choice(["a", "b", "c", "d"], n), "v": rng.standard_normal(n)})
g = df.groupby(["k", "c"])["v"].agg(["sum", "mean", "std"])
m = df.merge(g.reset_index(), on=["k", "c"])
s = m.sort_values("v").iloc[::1000]
print(len(g), round(float(s["sum"].sum()), 3), df["c"].astype("category").cat.codes.sum())
"""


FILES = """
import os, sys
tmp = sys.argv[1]
with open(os.path.join(tmp, "lines.txt"), "w") as f:
    for i in range(1_000_000):
        f.write(f"{(i * 7919) % 10000019:08d} row {i} {'x' * (i % 17)}\\n")
with open(os.path.join(tmp, "blob.bin"), "wb") as f:
    f.write(os.urandom(8 << 20) + b"memgov run benchmark " * 1_000_000)
for d in range(20):
    os.makedirs(os.path.join(tmp, "repo", f"d{d}"))
    for i in range(25):
        with open(os.path.join(tmp, "repo", f"d{d}", f"f{i}.txt"), "w") as f:
            f.write(f"file {d}/{i}\\n" * (200 + 37 * i))
"""


def setup_files():
    """The input files, written by a child process so that this one stays small."""
    subprocess.run([PY, "-c", FILES, TMP], check=True)
    return os.path.join(TMP, "lines.txt"), os.path.join(TMP, "blob.bin"), os.path.join(TMP, "repo")


def timed(args, env=None, cwd=None):
    """(wall s, CPU s, peak RSS bytes) of one run."""
    out = os.path.join(TMP, "time.out")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", out] + args, env=env, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"bench_run: {args} failed with status {p.returncode}")
    with open(out) as f:
        rss_kib, user, sys_ = f.read().split()[-3:]
    return wall, float(user) + float(sys_), int(rss_kib) * 1024


def workloads(lines, blob, repo):
    git_env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@e", GIT_COMMITTER_NAME="b",
                   GIT_COMMITTER_EMAIL="b@e", HOME=TMP)
    git_script = ("rm -rf .git && git init -q -b main && git add . && git commit -q -m bench && "
                  "git log --stat >/dev/null && git gc -q")
    return [
        ("python3 numpy", [PY, "-c", NUMPY], None, None),
        ("python3 pandas", [PY, "-c", PANDAS], None, None),
        ("python3 pandas, LD_PRELOAD Debian jemalloc instead of memgov run", [PY, "-c", PANDAS], "debian-je", None),
        ("sort (1 M lines, 33 MB)", ["sort", "-S", "256M", lines], None, None),
        ("gzip -6 (29 MB)", ["gzip", "-c", "-6", blob], None, None),
        ("git init/add/commit/log/gc (500 files)", ["sh", "-c", git_script], git_env, repo),
    ]


def mib(b):
    return f"{b / 2**20:.1f}"


def overhead_table(lines, blob, repo):
    print("| workload | wall plain (s) | wall memgov run (s) | ratio | CPU plain (s) | CPU memgov run (s) | ratio "
          "| peak RSS plain (MiB) | peak RSS memgov run (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, args, env, cwd in workloads(lines, blob, repo):
        plain, gov = [], []
        for _ in range(REPS):  # interleaved, so that a change in the machine's load hits both
            if env == "debian-je":
                plain.append(timed(args))
                gov.append(timed(args, dict(os.environ, LD_PRELOAD=DEBIAN_JE)))
                continue
            plain.append(timed(args, env, cwd))
            gov.append(timed([MEMGOV, "run", "--report-file", os.devnull, "--"] + args, env, cwd))
        pw, gw = (statistics.median(x[0] for x in v) for v in (plain, gov))
        pc, gc = (statistics.median(x[1] for x in v) for v in (plain, gov))
        pr, gr = (statistics.median(x[2] for x in v) for v in (plain, gov))
        print(f"| {name} | {pw:.3f} | {gw:.3f} | {gw / pw:.3f} | {pc:.2f} | {gc:.2f} | {gc / max(pc, 0.01):.3f} "
              f"| {mib(pr)} | {mib(gr)} |", flush=True)


def pairs_table():
    variants = [("glibc 2.36", None), ("Debian jemalloc 5.3.0 (LD_PRELOAD)", DEBIAN_JE),
                ("libmemgov-preload.so (LD_PRELOAD, no cap reached)", PRELOAD)]
    results = {name: {} for name, _ in variants}
    for _ in range(REPS):
        for name, lib in variants:
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            if lib:
                env["LD_PRELOAD"] = lib
            out = subprocess.run([PAIRS, "40000"], env=env, capture_output=True, text=True, check=True).stdout
            for line in out.split("\n"):
                if line:
                    size, ns = line.split()
                    results[name].setdefault(int(size), []).append(float(ns))
    sizes = sorted(results[variants[0][0]])
    print("| allocator | " + " | ".join(f"{s} B" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    base = {s: statistics.median(results[variants[0][0]][s]) for s in sizes}
    for name, _ in variants:
        cells = []
        for s in sizes:
            m = statistics.median(results[name][s])
            cells.append(f"{m:.1f}" + ("" if name == variants[0][0] else f" ({m / base[s]:.2f}x)"))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


try:
    print(f"{REPS} runs per variant, medians; load average before: {os.getloadavg()[0]:.1f}\n")
    if PART == "workloads":
        overhead_table(*setup_files())
    else:
        print("malloc+free pair, ns (batches of 32 blocks of one size; ratio to glibc)\n")
        pairs_table()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
