#!/usr/bin/python3
"""Sequential write and read bandwidth of a file-backed array: memgov.mmarray (memgov's mapping of a .npy file)
against np.memmap of the same size and against plain write(2) / read(2) of the same bytes.

    PYTHONPATH=BUILD/bindings/python /usr/bin/python3 bench/bench_mmarray.py [MiB [ROUNDS [DIR]]]

Defaults: 1024 MiB, 5 rounds, DIR /dev/shm (a tmpfs: memory bandwidth and page-fault cost, no disk). Every
contender moves the same bytes from / to one 64 MiB numpy buffer in 64 MiB steps:
- write: create the file (memgov: create = posix_fallocate; np.memmap mode "w+" = ftruncate; write(2): open with
  O_CREAT), copy the buffer into every step (np.copyto into the mapping; os.write), then flush (memgov: msync;
  np.memmap.flush: msync; write(2): fsync), close; the file is removed outside the timed part.
- read: open the file written by the same contender, copy every step into the buffer (np.copyto from the mapping;
  os.readv into it), close.
The rounds interleave the contenders; the table gives medians in GB/s (1e9 bytes/s) and memgov's ratio to each
contender (> 1: memgov faster). Prints the machine and the load average before and after.
"""
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import memgov
import memgov.mmarray as mm

STEP = 64 << 20


def steps(total):
    return [(o, min(STEP, total - o)) for o in range(0, total, STEP)]


def w_memgov(path, total, buf):
    a = mm.create(path, (total,), "uint8")
    for o, n in steps(total):
        np.copyto(a[o:o + n], buf[:n])
    mm.flush(a)
    del a


def r_memgov(path, total, buf):
    a = mm.open(path)
    for o, n in steps(total):
        np.copyto(buf[:n], a[o:o + n])
    del a


def w_numpy(path, total, buf):
    a = np.memmap(path, dtype=np.uint8, mode="w+", shape=(total,))
    for o, n in steps(total):
        np.copyto(a[o:o + n], buf[:n])
    a.flush()
    del a


def r_numpy(path, total, buf):
    a = np.memmap(path, dtype=np.uint8, mode="r", shape=(total,))
    for o, n in steps(total):
        np.copyto(buf[:n], a[o:o + n])
    del a


def w_write(path, total, buf):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    mv = memoryview(buf)
    for _, n in steps(total):
        done = 0
        while done < n:
            done += os.write(fd, mv[done:n])
    os.fsync(fd)
    os.close(fd)


def r_read(path, total, buf):
    fd = os.open(path, os.O_RDONLY)
    mv = memoryview(buf)
    for _, n in steps(total):
        done = 0
        while done < n:
            got = os.readv(fd, [mv[done:n]])
            if got == 0:
                raise RuntimeError("short file")
            done += got
    os.close(fd)


CONTENDERS = [("memgov.mmarray", w_memgov, r_memgov), ("np.memmap", w_numpy, r_numpy),
              ("write(2)/read(2)", w_write, r_read)]


def fs_type(path):
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    where = sys.argv[3] if len(sys.argv) > 3 else "/dev/shm"
    total = mib << 20
    buf = np.frombuffer(np.random.default_rng(1).bytes(STEP), dtype=np.uint8).copy()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"numpy {np.__version__}, memgov {memgov.__version__}")
    print(f"file: {mib} MiB in {where} ({fs_type(where)}), {rounds} rounds, load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    times = {(name, op): [] for name, _, _ in CONTENDERS for op in ("write", "read")}
    for _ in range(rounds):
        for name, w, r in CONTENDERS:
            path = os.path.join(where, f"bench-mmarray-{os.getpid()}.bin")
            try:
                t0 = time.perf_counter()
                w(path, total, buf)
                times[(name, "write")].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                r(path, total, buf)
                times[(name, "read")].append(time.perf_counter() - t0)
            finally:
                if os.path.exists(path):
                    os.unlink(path)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'contender':<18} {'write GB/s':>10} {'read GB/s':>10} {'memgov/x write':>15} {'memgov/x read':>14}")
    med = {k: total / statistics.median(v) / 1e9 for k, v in times.items()}
    for name, _, _ in CONTENDERS:
        print(f"{name:<18} {med[(name, 'write')]:>10.2f} {med[(name, 'read')]:>10.2f} "
              f"{med[('memgov.mmarray', 'write')] / med[(name, 'write')]:>15.2f} "
              f"{med[('memgov.mmarray', 'read')] / med[(name, 'read')]:>14.2f}")
    spread = {k: (total / max(v) / 1e9, total / min(v) / 1e9) for k, v in times.items()}
    print("range (min-max GB/s): " + "; ".join(f"{n} {op} {lo:.2f}-{hi:.2f}" for (n, op), (lo, hi) in
                                                 spread.items()))


if __name__ == "__main__":
    main()
