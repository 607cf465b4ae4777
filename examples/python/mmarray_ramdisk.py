#!/usr/bin/python3
"""Mapped arrays and a RAM-disk folder from Python: memgov.mmarray.create gives a numpy array over a .npy file
(numpy.load reads it), memgov.mmarray.open maps numpy's own files, and gov.ramdisk() is a capped scratch folder
in /dev/shm that is removed on exit."""
import os
import tempfile

import numpy as np

import memgov

with memgov.Governor(limit="256MiB", env=False) as gov, tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "features.npy")
    maps = gov.budget("maps", hard="64MiB")
    x = memgov.mmarray.create(path, (1000, 100), "float32", budget=maps)  # charged its mapping's length
    x[:] = np.arange(100, dtype=np.float32)
    memgov.mmarray.flush(x)
    print(f"{path}: numpy reads sum {np.load(path, mmap_mode='r').sum():.0f}; budget 'maps' reserves "
          f"{maps.stats().reserved} bytes")
    del x  # unmapped, charge released
    print(f"after del: budget 'maps' reserves {maps.stats().reserved} bytes")

    np.save(os.path.join(tmp, "labels.npy"), np.arange(10, dtype=np.int64))
    labels = memgov.mmarray.open(os.path.join(tmp, "labels.npy"))  # read-only mapping of numpy's file
    print(f"labels from numpy's file: {labels[:5]} ... writable={labels.flags.writeable}")
    del labels
    maps.destroy()

    with gov.ramdisk(cap="8MiB") as rd:
        with rd.create_file("scratch.bin", "1MiB") as f:
            f.write(b"\0" * 1024)
        try:
            rd.create_file("too-big.bin", "16MiB")
        except memgov.BudgetExceededError as e:
            print(f"refused: {e}")
        print(f"ramdisk {rd.path} uses {rd.used} bytes of {rd.cap}")
        folder = rd.path
    print(f"folder removed on exit: {not os.path.exists(folder)}")
    assert not os.path.exists(folder)
