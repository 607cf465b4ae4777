"""File-backed budgets and spill from Python (docs/memmap.md): numpy arrays whose pages live in a file, larger than
the RAM budget, filled and summed with the resident memory bounded; spill of refused numpy allocations."""
import gc
import os

import numpy as np
import pytest

import memgov

MiB = 1 << 20


def rss():
    """The process's resident set now, bytes (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def scratch(tmp_path):
    d = tmp_path / "spill"
    d.mkdir()
    yield str(d)
    assert os.listdir(d) == []  # the file never had a name


def test_a_file_backed_array_four_times_the_ram_budget_is_filled_and_summed_with_rss_bounded(gov, scratch):
    ram = gov.budget("ram", hard=64 * MiB)
    disk = gov.file_budget("disk", hard="1GiB", dir=scratch)
    assert disk.file_backed and not ram.file_backed
    n = 256 * MiB // 8  # 4x the RAM budget
    with ram.numpy():
        with pytest.raises(MemoryError):
            np.empty(n)  # RAM refuses it
    base = rss()
    peak = base
    with disk.numpy():
        a = np.empty(n)
    assert disk.used >= a.nbytes and gov.root.used < 1 * MiB  # on disk, not charged to RAM
    chunk = 8 * MiB // 8
    for i in range(0, n, chunk):
        a[i:i + chunk] = np.arange(i, min(i + chunk, n), dtype=np.float64)
        disk.page_out()
        peak = max(peak, rss())
    total = 0.0
    for i in range(0, n, chunk):
        total += float(a[i:i + chunk].sum())
        disk.page_out()
        peak = max(peak, rss())
    assert total == float(n) * (n - 1) / 2
    st = disk.file_stats()
    assert st.dir == scratch and st.disk_bytes >= a.nbytes
    # Generous margin: the array is 256 MiB; the process never held more than a RAM budget's worth of it.
    assert peak - base < 64 * MiB, f"RSS grew by {(peak - base) / MiB:.0f} MiB"
    del a
    gc.collect()
    assert disk.used == 0
    disk.purge()
    assert disk.file_stats().disk_bytes < 4 * MiB
    disk.destroy()
    ram.destroy()


def test_refused_numpy_allocations_spill_to_the_file_budget(gov, scratch):
    ram = gov.budget("ram", hard=16 * MiB)
    disk = gov.file_budget("spill", hard=512 * MiB, dir=scratch)
    ram.set_spill(disk)  # memmap.spill_min: 1 MiB
    events = []
    reg = ram.on_event(lambda e: events.append(e) if e.kind == "spilled" else None)
    with ram.numpy():
        small = np.ones(1000)  # RAM
        big = np.ones(8 * MiB)  # 64 MiB: refused by ram, spilled
    assert big.sum() == 8 * MiB and small.sum() == 1000
    assert [e.kind for e in events] == ["spilled"] and events[0].budget == "ram"
    s = ram.spill_stats()
    assert s.target == "spill" and s.spilled == 1 and s.live_blocks == 1 and s.live_bytes >= big.nbytes
    assert s.min_bytes == gov.config.get("memmap.spill_min") == MiB
    assert disk.used >= big.nbytes and ram.used < 1 * MiB
    with pytest.raises(memgov.BusyError):
        disk.destroy()  # ram names it
    del big, small
    gc.collect()
    assert ram.spill_stats().live_blocks == 0 and disk.used == 0
    reg.remove()
    ram.set_spill(None)
    disk.destroy()
    ram.destroy()


def test_bad_directories_and_placements_are_refused(gov, tmp_path):
    with pytest.raises(memgov.MemgovError) as e:
        gov.file_budget("x", dir=str(tmp_path / "missing"))
    assert "missing" in str(e.value)
    with pytest.raises(memgov.InvalidArgumentError):
        gov.file_budget("x", placement="cloud")
    gov.config.set("memmap.dir", str(tmp_path))
    b = gov.file_budget("from-config")
    assert b.file_stats().dir == str(tmp_path)
    b.destroy()
