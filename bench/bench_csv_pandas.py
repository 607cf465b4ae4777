#!/usr/bin/python3
"""pandas' own chunked reading of the files bench_csv leaves with "keep": `for df in pandas.read_csv(path,
chunksize=ROWS)` with ROWS the rows of a 16 MiB chunk (bench_csv's target), in GB/s, median of REPEATS. pandas
parses every field while it iterates; this is the cost a pandas user pays today to get record-aligned pieces.

usage: bench_csv_pandas.py FILE... [--repeats N]
"""
import os
import statistics
import sys
import time

import pandas


def main():
    args = sys.argv[1:]
    repeats = 3
    if "--repeats" in args:
        i = args.index("--repeats")
        repeats = int(args[i + 1])
        del args[i:i + 2]
    print(f"pandas {pandas.__version__}: read_csv(chunksize=rows of 16 MiB), median of {repeats}")
    print(f"{'file':<28} {'GB/s':>8} {'chunks':>8}")
    for path in args:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(1 << 20)
        rows = max(1, (16 << 20) * head.count(b"\n") // len(head))
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            n = sum(1 for _ in pandas.read_csv(path, chunksize=rows))
            times.append(time.perf_counter() - t)
        print(f"{os.path.basename(path):<28} {size / statistics.median(times) / 1e9:>8.3f} {n:>8}")


if __name__ == "__main__":
    main()
