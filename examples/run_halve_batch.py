"""memgov run's recipe (docs/run.md): a pipeline step that catches MemoryError and halves its batch, as pipelines
already do, made dependable by a cap that turns "out of memory" into MemoryError instead of the OOM killer:

    memgov run --limit 24M -- /usr/bin/python3 examples/run_halve_batch.py 6291456 halving

It sums x*x over N float64 values in batches; the naive batch (all N at once) needs about 4x that cap, so
`naive` ends with MemoryError and `halving` finishes with the right sum. tests/run/test_run.py runs both."""
import sys

import numpy as np

n, how = int(sys.argv[1]), sys.argv[2]
batch = n
total = 0.0
start = 0
halvings = 0
while start < n:
    stop = min(n, start + batch)
    try:
        x = np.arange(start, stop, dtype=np.float64)
        y = x * x  # a second array of the same size: the naive batch needs 2 * 8 * N bytes
        total += float(y.sum())
        del x, y
        start = stop
    except MemoryError:
        x = y = None  # drop what the failed batch holds before the next try
        if how == "naive" or batch == 1:
            raise
        batch //= 2
        halvings += 1
expected = (n - 1) * n * (2 * n - 1) / 6
print(f"halve_batch: total {total:.6e} expected {expected:.6e} halvings {halvings} final batch {batch}")
sys.exit(0 if abs(total - expected) <= 1e-9 * expected else 1)
