#!/usr/bin/python3
"""The machine as memgov sees it: memory, cgroup limits, cores, caches, SIMD, disk."""
import memgov

p = memgov.probe()
print("sources:", ", ".join(sorted(p.sources)))
print(f"RAM {memgov.format_bytes(p.ram_total)}, available {memgov.format_bytes(p.mem_available)}, "
      f"effective {memgov.format_bytes(p.effective_memory)}")
print("cgroup v%d memory.max:" % p.cgroup_version,
      "none" if p.cgroup_memory_max is None else memgov.format_bytes(p.cgroup_memory_max))
print(f"CPUs: {p.physical_cores} cores, {p.logical_cpus} logical, {p.usable_cpus} usable; "
      f"{p.cpu_vendor} {p.cpu_model}; SIMD {', '.join(sorted(p.simd)) or 'unknown'}")
print(f"caches L1d {memgov.format_bytes(p.l1d_size)} L2 {memgov.format_bytes(p.l2_size)} "
      f"L3 {memgov.format_bytes(p.l3_size)}; NUMA nodes {p.numa_nodes}")
print(f"disk free {memgov.format_bytes(p.disk_free)} of {memgov.format_bytes(p.disk_total)}")
assert p.effective_memory > 0
