#!/usr/bin/python3
"""numpy memory under a budget: arrays allocated inside `with budget.numpy():` are charged to the budget, freed
arrays are credited, and an allocation beyond the hard cap raises MemoryError naming the budget."""
import numpy as np

import memgov

with memgov.Governor(limit="256MiB", env=False) as gov:
    images = gov.budget("images", hard="32MiB")
    with images.numpy():
        batch = np.zeros((16, 256, 256), dtype=np.float32)  # 4 MiB
        print(f"allocated {batch.nbytes} bytes; budget 'images' uses {images.stats().used} bytes")
        try:
            huge = np.empty((64, 256, 256), dtype=np.float32)  # 16 MiB more, four times
            more = [np.empty((64, 256, 256), dtype=np.float32) for _ in range(3)]
        except MemoryError as e:
            print(f"refused: {e}")
            huge = more = None
    outside = np.ones(10)  # numpy's default handler again
    print("handler outside the context:", np.core.multiarray.get_handler_name(outside))
    del batch, huge, more
    print(f"after del: budget 'images' uses {images.stats().used} bytes, refusals {images.stats().refusals}")
    assert images.stats().used == 0 and images.stats().refusals == 1
    images.destroy()
