"""memgov.probe(): the machine's memory, cgroup limits, cores, caches, SIMD and disk, as memgov sees them."""
from __future__ import annotations

import ctypes
import dataclasses
import os
from typing import FrozenSet, Optional, Tuple, Union

from . import _lib
from ._lib import LIB
from .errors import check


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """What memgov_probe_read() found. Sizes in bytes; 0 = unknown (a source that could not be read: see
    ``sources``); cgroup limits of "max" are None. ``rejected`` names sources that were there but refused (junk
where a number belongs, a file that is not a regular file), ``rejected_why`` says why. ``effective_memory`` = min(RAM, cgroup memory.max, memory.high)
    is what percentages such as "80%" resolve against."""
    sources: FrozenSet[str]
    ram_total: int
    mem_available: int
    swap_total: int
    swap_free: int
    page_size: int
    huge_page_size: int
    huge_pages_total: int
    huge_pages_free: int
    cgroup_version: int
    cgroup_memory_max: Optional[int]
    cgroup_memory_high: Optional[int]
    cgroup_memory_current: int
    rss: int
    peak_rss: int
    effective_memory: int
    physical_cores: int
    logical_cpus: int
    numa_nodes: int
    numa_node_memory: Tuple[int, ...]
    l1d_size: int
    l2_size: int
    l3_size: int
    cpu_vendor: str
    cpu_model: str
    simd: FrozenSet[str]
    allowed_cpus: int
    cpu_quota: float
    usable_cpus: int
    disk_total: int
    disk_free: int
    shm_total: int
    shm_free: int
    rejected: FrozenSet[str] = frozenset()
    rejected_why: str = ""


_UNLIMITED = (1 << 64) - 1


def probe(root: Optional[Union[str, "os.PathLike[str]"]] = None, disk_dir: Optional[str] = None,
          hwloc: bool = True, cpuid: bool = True) -> ProbeResult:
    """Probes the machine. root: prefix of /proc and /sys (tests, containers); disk_dir: the directory whose
    file system is measured (default "."); hwloc / cpuid False skip those libraries (cores, caches / CPU model,
    SIMD stay unknown). Unreadable sources are unknown, never an error."""
    opts = _lib.ProbeOptions.new()
    LIB.memgov_probe_options_init(ctypes.byref(opts))
    if root is not None:
        opts.root = os.fsencode(root)
    if disk_dir is not None:
        opts.disk_dir = os.fsencode(disk_dir)
    opts.flags = (0 if hwloc else _lib.PROBE_NO_HWLOC) | (0 if cpuid else _lib.PROBE_NO_CPUID)
    p = _lib.Probe.new()
    check(LIB.memgov_probe_read(ctypes.byref(opts), ctypes.byref(p)))
    nodes = min(p.numa_nodes, _lib.PROBE_MAX_NUMA_NODES)
    lim = lambda v: None if v == _UNLIMITED else int(v)  # noqa: E731
    return ProbeResult(
        sources=frozenset(n for i, n in enumerate(_lib.PROBE_SOURCES) if p.sources >> i & 1),
        ram_total=p.ram_total, mem_available=p.mem_available, swap_total=p.swap_total, swap_free=p.swap_free,
        page_size=p.page_size, huge_page_size=p.huge_page_size, huge_pages_total=p.huge_pages_total,
        huge_pages_free=p.huge_pages_free, cgroup_version=p.cgroup_version,
        cgroup_memory_max=lim(p.cgroup_memory_max), cgroup_memory_high=lim(p.cgroup_memory_high),
        cgroup_memory_current=p.cgroup_memory_current, rss=p.rss, peak_rss=p.peak_rss,
        effective_memory=p.effective_memory, physical_cores=p.physical_cores, logical_cpus=p.logical_cpus,
        numa_nodes=p.numa_nodes, numa_node_memory=tuple(int(p.numa_node_memory[i]) for i in range(nodes)),
        l1d_size=p.l1d_size, l2_size=p.l2_size, l3_size=p.l3_size, cpu_vendor=_lib.text(p.cpu_vendor),
        cpu_model=_lib.text(p.cpu_model),
        simd=frozenset(n for i, n in enumerate(_lib.SIMD_NAMES) if p.simd >> i & 1),
        allowed_cpus=p.allowed_cpus, cpu_quota=p.cpu_quota, usable_cpus=p.usable_cpus, disk_total=p.disk_total,
        disk_free=p.disk_free, shm_total=p.shm_total, shm_free=p.shm_free,
        rejected=frozenset(n for i, n in enumerate(_lib.PROBE_SOURCES) if p.rejected >> i & 1),
        rejected_why=_lib.text(p.rejected_why))
