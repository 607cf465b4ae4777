#!/usr/bin/python3
"""Disk-backed numpy arrays: a file-backed budget holds an array four times larger than the RAM budget, filled and
summed chunk by chunk with the resident memory kept small; a RAM budget spills its refused large arrays there.
The file lives in $TMPDIR (else /var/tmp) and has no name: nothing is left on disk, even after a crash."""
import gc

import numpy as np

import memgov

MiB = 1 << 20

with memgov.Governor(limit="256MiB", env=False) as gov:
    ram = gov.budget("ram", hard="32MiB")
    disk = gov.file_budget("disk", hard="1GiB")  # dir: memmap.dir, else $TMPDIR, else /var/tmp
    with disk.numpy():
        a = np.empty(128 * MiB // 8)  # 128 MiB, 4x the RAM budget
    for i in range(0, a.size, MiB):
        a[i:i + MiB] = 1.0
        disk.page_out()  # keep the resident set small: the pages stay in the file
    total = sum(float(a[i:i + MiB].sum()) for i in range(0, a.size, MiB))
    st = disk.file_stats()
    print(f"sum {total:.0f}; the file in {st.dir} holds {st.disk_bytes // MiB} MiB on disk, "
          f"{st.resident_bytes // MiB} MiB resident")
    assert total == a.size and st.disk_bytes >= a.nbytes

    ram.set_spill(disk)  # refused requests of memmap.spill_min (1 MiB) and more go to the file
    with ram.numpy():
        big = np.ones(8 * MiB)  # 64 MiB: more than 'ram' allows
    s = ram.spill_stats()
    print(f"'ram' spilled {s.spilled} array(s) to '{s.target}': {s.live_bytes // MiB} MiB live there")
    assert s.spilled == 1 and big.sum() == big.size
    del a, big
    gc.collect()
    ram.set_spill(None)
    disk.destroy()
    ram.destroy()
