"""The one place where memgov's C API is declared for ctypes: structures, prototypes and the library loader.

Every C name the package uses appears in this module only; the rest of the package calls ``LIB.<name>`` or the
helpers here. The library is looked up, in order, at the path recorded when the package was built or installed
(``memgov._paths.LIBRARY``), then at ``$MEMGOV_LIBRARY``, then by its soname through the dynamic loader's path
(``libmemgov.so.1``). A library that cannot be opened or that lacks the stable ABI's functions gives an
ImportError naming every file tried and why.
"""
from __future__ import annotations

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int, c_int32, c_size_t,
                    c_uint, c_uint32, c_uint64, c_void_p)
from typing import List, Optional, Tuple

from . import _paths

SONAME = "libmemgov.so.1"
#: The release this package was built with; the loaded library must have the same major and at least this minor.
BUILT_VERSION: Tuple[int, int, int] = _paths.VERSION

# ---- structures (the headers' layouts; struct_size is always the first field) ----------------------------------


class _Sized(Structure):
    """A memgov struct whose first field is ``size_t struct_size``; new() sets it."""

    @classmethod
    def new(cls, **fields):  # type: ignore[no-untyped-def]
        obj = cls(**fields)
        obj.struct_size = ctypes.sizeof(cls)
        return obj


class Options(_Sized):
    _fields_ = [("struct_size", c_size_t), ("root_limit", c_uint64), ("root_soft_limit", c_uint64),
                ("config_file", c_char_p), ("flags", c_uint32), ("proc_root", c_char_p)]


OPEN_NO_ENV, OPEN_STRICT, OPEN_START_MONITOR = 0x1, 0x2, 0x4
OPEN_NO_LIMIT = (1 << 64) - 1


class BudgetOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("hard_limit", c_uint64),
                ("soft_limit", c_uint64), ("flags", c_uint32)]


BUDGET_OWN_ARENA = 0x1


class BudgetStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("used", c_uint64), ("peak", c_uint64), ("hard_limit", c_uint64),
                ("soft_limit", c_uint64), ("reserved", c_uint64), ("allocations", c_uint64), ("frees", c_uint64),
                ("refusals", c_uint64), ("reclaims", c_uint64), ("children", c_uint32), ("own_arena", c_uint32),
                ("arena_allocated", c_uint64), ("arena_active", c_uint64), ("arena_resident", c_uint64),
                ("arena_mapped", c_uint64), ("arena_retained", c_uint64)]


class Event(Structure):
    _fields_ = [("struct_size", c_size_t), ("kind", c_int), ("budget", c_void_p), ("origin", c_void_p),
                ("used", c_uint64), ("peak", c_uint64), ("hard_limit", c_uint64), ("soft_limit", c_uint64),
                ("request", c_uint64)]


RECLAIM_FN = CFUNCTYPE(c_uint64, c_void_p, c_uint64, c_void_p)
EVENT_FN = CFUNCTYPE(None, POINTER(Event), c_void_p)


class ConfigKey(_Sized):
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("type", c_int), ("default_value", c_char_p),
                ("min", c_char_p), ("max", c_char_p), ("choices", c_char_p), ("doc", c_char_p)]


CONFIG_TYPES = {"bool": 0, "int": 1, "unsigned": 2, "double": 3, "size": 4, "duration": 5, "string": 6, "enum": 7}
CONFIG_STRICT = 1
CONFIG_DUMP_JSON, CONFIG_DUMP_DOCS = 1, 2
CONFIG_SOURCES = ("default", "file", "env", "api")
CONFIG_SEVERITIES = ("error", "warning", "correction")


class Recommendation(_Sized):
    _fields_ = [("struct_size", c_size_t), ("memory_fraction", c_double), ("memory_limit", c_uint64),
                ("threads", c_uint64), ("batch_size", c_uint64), ("chunk_rows", c_uint64),
                ("memory_fraction_why", c_char * 160), ("threads_why", c_char * 160),
                ("batch_size_why", c_char * 160), ("chunk_rows_why", c_char * 160)]


class ConfigChange(_Sized):
    _fields_ = [("struct_size", c_size_t), ("key", c_char * 96), ("old_value", c_char * 128),
                ("new_value", c_char * 128), ("source", c_char * 160), ("reason", c_char * 160),
                ("time_ns", c_uint64)]


CONFIG_LISTENER_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_void_p)

PROBE_MAX_NUMA_NODES = 16


class ProbeOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("root", c_char_p), ("disk_dir", c_char_p), ("flags", c_uint)]


PROBE_NO_HWLOC, PROBE_NO_CPUID = 1, 2
PROBE_SOURCES = ("meminfo", "cgroup", "status", "hwloc", "cpuid", "disk", "shm", "cpu_quota")
SIMD_NAMES = ("sse2", "sse4_2", "avx", "avx2", "fma3", "avx512f", "neon")


class Probe(_Sized):
    _fields_ = [("struct_size", c_size_t), ("sources", c_uint), ("ram_total", c_uint64),
                ("mem_available", c_uint64), ("swap_total", c_uint64), ("swap_free", c_uint64),
                ("page_size", c_uint64), ("huge_page_size", c_uint64), ("huge_pages_total", c_uint64),
                ("huge_pages_free", c_uint64), ("cgroup_version", c_int), ("cgroup_memory_max", c_uint64),
                ("cgroup_memory_high", c_uint64), ("cgroup_memory_current", c_uint64), ("rss", c_uint64),
                ("peak_rss", c_uint64), ("effective_memory", c_uint64), ("physical_cores", c_uint),
                ("logical_cpus", c_uint), ("numa_nodes", c_uint),
                ("numa_node_memory", c_uint64 * PROBE_MAX_NUMA_NODES), ("l1d_size", c_uint64),
                ("l2_size", c_uint64), ("l3_size", c_uint64), ("cpu_vendor", c_char * 32),
                ("cpu_model", c_char * 64), ("simd", c_uint), ("allowed_cpus", c_uint), ("cpu_quota", c_double),
                ("usable_cpus", c_uint), ("disk_total", c_uint64), ("disk_free", c_uint64),
                ("shm_total", c_uint64), ("shm_free", c_uint64), ("rejected", c_uint),
                ("rejected_why", c_char * 512)]


class FallbackTransition(_Sized):
    _fields_ = [("struct_size", c_size_t), ("seq", c_uint64), ("time_ns", c_uint64), ("from_", c_int),
                ("to", c_int), ("reason", c_int), ("pressure", c_double)]


class FallbackStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("mode", c_int), ("pinned", c_int), ("pressure", c_double),
                ("peak_pressure", c_double), ("observations", c_uint64), ("transitions", c_uint64),
                ("history_kept", c_uint64), ("refusals", c_uint64), ("emergencies", c_uint64),
                ("time_in_mode_ns", c_uint64 * 3)]


FALLBACK_MAX_ATTEMPTS = 16


class FallbackRunOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("max_attempts", c_uint32), ("backoff_ns", c_uint64),
                ("backoff_max_ns", c_uint64), ("sleep_ns", c_void_p), ("sleep_ctx", c_void_p)]


class FallbackAttempt(Structure):
    _fields_ = [("mode", c_int), ("status", c_int), ("backoff_ns", c_uint64)]


class FallbackRunResult(_Sized):
    _fields_ = [("struct_size", c_size_t), ("status", c_int), ("attempts", c_uint32),
                ("attempt", FallbackAttempt * FALLBACK_MAX_ATTEMPTS)]


TRANSITION_FN = CFUNCTYPE(None, POINTER(FallbackTransition), c_void_p)
EMERGENCY_FN = CFUNCTYPE(None, c_double, c_void_p)
JOB_FN = CFUNCTYPE(c_int, c_int, c_void_p)

METRIC_UNIT_MAX = 15


class MonitorOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("interval_ns", c_uint64), ("history_capacity", c_uint32),
                ("trend_window_ns", c_uint64), ("leak_slope", c_double), ("leak_metric", c_char_p),
                ("proc_root", c_char_p), ("pid", c_int32), ("process_tree", c_int32), ("clock_ns", c_void_p),
                ("clock_ctx", c_void_p), ("alert_history_capacity", c_uint32)]


class MetricStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("samples", c_uint64), ("last", c_double), ("average", c_double),
                ("min", c_double), ("peak", c_double), ("peak_time_ns", c_uint64), ("trend_per_s", c_double),
                ("unit", c_char * (METRIC_UNIT_MAX + 1))]


class MonitorStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("samples", c_uint64), ("samples_kept", c_uint64),
                ("first_time_ns", c_uint64), ("last_time_ns", c_uint64), ("metrics", c_uint32),
                ("running", c_int32), ("leak_suspected", c_int32), ("leak_trend_per_s", c_double),
                ("alerts", c_uint64)]


class AlertRule(_Sized):
    _fields_ = [("struct_size", c_size_t), ("metric", c_char_p), ("warning", c_double), ("critical", c_double),
                ("below", c_int32), ("escalate_after_ns", c_uint64)]


class Alert(_Sized):
    _fields_ = [("struct_size", c_size_t), ("seq", c_uint64), ("time_ns", c_uint64), ("rule", c_uint32),
                ("metric", c_char_p), ("level", c_int), ("previous", c_int), ("value", c_double),
                ("threshold", c_double), ("escalated", c_int32)]


class LeakReport(_Sized):
    _fields_ = [("struct_size", c_size_t), ("iterations", c_uint32), ("rss_per_iteration", c_double),
                ("metric_per_iteration", c_double), ("rss_first", c_double), ("rss_last", c_double)]


METRIC_FN = CFUNCTYPE(c_double, c_void_p)
ALERT_FN = CFUNCTYPE(None, POINTER(Alert), c_void_p)
LEAK_FN = CFUNCTYPE(None, c_uint32, c_void_p)
REPORT_TEXT, REPORT_JSON = 0, 1

# gpu.h (experimental tier, issue 16) and the AIMD batcher of chunk.h
class GpuOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("limit", c_uint64), ("soft_limit", c_uint64),
                ("flags", c_uint32), ("release_threshold", c_uint64), ("library", c_char_p), ("sim_total", c_uint64)]


GPU_PLAIN_ALLOC, GPU_NO_METRICS = 0x1, 0x2
GPU_RELEASE_ALL = (1 << 64) - 1


class GpuStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("backend", c_int), ("device_index", c_int), ("device", c_char * 64),
                ("device_total", c_uint64), ("device_free", c_uint64), ("used", c_uint64), ("peak", c_uint64),
                ("hard_limit", c_uint64), ("soft_limit", c_uint64), ("reserved", c_uint64), ("blocks", c_uint64),
                ("allocations", c_uint64), ("frees", c_uint64), ("limit_refusals", c_uint64),
                ("device_refusals", c_uint64), ("device_retries", c_uint64), ("release_threshold", c_uint64),
                ("stream_ordered", c_uint32), ("metrics", c_uint32)]


class BatcherOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("min", c_uint64), ("max", c_uint64), ("initial", c_uint64),
                ("step", c_uint64), ("reprobe_after", c_uint32), ("history_capacity", c_uint32),
                ("config", c_void_p)]


class BatcherStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("next", c_uint64), ("min", c_uint64), ("max", c_uint64),
                ("step", c_uint64), ("ceiling", c_uint64), ("last_good", c_uint64), ("successes", c_uint64),
                ("refusals", c_uint64), ("history_kept", c_uint64)]


# memmap.h, file-backed budgets and spill (experimental tier)
class FileBudgetOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("dir", c_char_p), ("config", c_void_p), ("placement", c_int),
                ("address_space", c_uint64), ("purge_delay_ms", ctypes.c_int64)]


FILE_PLACEMENTS = {"auto": 0, "ram": 1, "disk": 2}


class FileBudgetStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("dir", c_char * 256), ("disk_bytes", c_uint64), ("file_size", c_uint64),
                ("committed_bytes", c_uint64), ("resident_bytes", c_uint64), ("address_space", c_uint64),
                ("grow_failures", c_uint64)]


class SpillStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("target", c_void_p), ("min_bytes", c_uint64), ("spilled", c_uint64),
                ("spilled_direct", c_uint64), ("live_blocks", c_uint64), ("live_bytes", c_uint64),
                ("failed", c_uint64)]


EVENT_SPILLED = 5


# kernels.h (experimental tier)
class DowncastOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("flags", c_uint32), ("abs_tolerance", c_double),
                ("rel_tolerance", c_double), ("lease", c_void_p)]


DOWNCAST_UNSIGNED, DOWNCAST_FLOAT_TO_INT, DOWNCAST_KEEP_FLOAT64 = 0x1, 0x2, 0x4


class DowncastPlan(_Sized):
    _fields_ = [("struct_size", c_size_t), ("from_", c_int), ("to", c_int), ("count", c_uint64),
                ("nan_count", c_uint64), ("min", c_double), ("max", c_double), ("int_min", ctypes.c_int64),
                ("int_max", ctypes.c_int64), ("uint_min", c_uint64), ("uint_max", c_uint64),
                ("bytes_from", c_uint64), ("bytes_to", c_uint64), ("bytes_saved", c_uint64)]


class FactorizeOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("flags", c_uint32)]


FACTORIZE_SORT = 0x1


class Accumulator(_Sized):
    _fields_ = [("struct_size", c_size_t), ("count", c_uint64), ("nan_count", c_uint64), ("min", c_double),
                ("max", c_double), ("shift", c_double), ("mean", c_double), ("m2", c_double), ("sum", c_double),
                ("sum_c", c_double)]


class KernelsSummary(_Sized):
    _fields_ = [("struct_size", c_size_t), ("count", c_uint64), ("nan_count", c_uint64), ("min", c_double),
                ("max", c_double), ("mean", c_double), ("var", c_double), ("var_sample", c_double),
                ("std", c_double), ("sum", c_double)]


#: memgov_dtype values (common.h) by numpy dtype name.
DTYPES = {"int8": 1, "int16": 2, "int32": 3, "int64": 4, "uint8": 5, "uint16": 6, "uint32": 7, "uint64": 8,
          "float16": 9, "float32": 10, "float64": 11, "bool": 12}


# ---- prototypes: name -> (restype, argtypes) --------------------------------------------------------------------

# memgov/chunk.h (experimental tier)
class ChunkPlanOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("item_bytes", c_uint64), ("working_set", c_double),
                ("total_items", c_uint64), ("min_items", c_uint64), ("max_items", c_uint64),
                ("align_items", c_uint64), ("in_flight", c_uint64), ("budget", c_void_p),
                ("target_bytes", c_uint64), ("config", c_void_p)]


class ChunkPlan(_Sized):
    _fields_ = [("struct_size", c_size_t), ("items", c_uint64), ("chunks", c_uint64), ("chunk_bytes", c_uint64),
                ("memory_bytes", c_uint64), ("mode", c_int), ("over_memory", c_int), ("reason", c_char * 192)]


class CsvOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("target_bytes", c_uint64), ("has_header", c_int),
                ("delimiter", c_char), ("quote", c_char), ("threads", c_uint32), ("buffer_bytes", c_uint64),
                ("budget", c_void_p), ("lease", c_void_p)]


class CsvChunk(_Sized):
    _fields_ = [("struct_size", c_size_t), ("offset", c_uint64), ("length", c_uint64), ("index", c_uint64),
                ("flags", c_uint32)]


# memgov/threads.h (experimental tier): the BLAS and OpenMP thread pools
class PoolInfo(_Sized):
    _fields_ = [("struct_size", c_size_t), ("kind", c_int), ("flags", c_uint32), ("name", c_char_p),
                ("path", c_char_p), ("version", c_char_p), ("threading", c_char_p), ("threads", c_int),
                ("saved_threads", c_int), ("limit", c_int)]


POOL_KINDS = {1: "openblas", 2: "blis", 3: "mkl", 4: "gnu_openmp", 5: "llvm_openmp", 6: "other_openmp"}
POOL_PER_THREAD, POOL_READ_ONLY = 0x1, 0x2
POOLS_MAX_THREADS = 65536


# memgov/threads.h (experimental tier): leases
class ThreadsStats(_Sized):
    _fields_ = [("struct_size", c_size_t), ("capacity", c_uint), ("leased", c_uint), ("peak_leased", c_uint),
                ("waiting", c_uint), ("leases", c_uint), ("grants", c_uint64), ("granted_threads", c_uint64),
                ("partial_grants", c_uint64), ("denials", c_uint64 * 4), ("target_changes", c_uint64),
                ("allowed_cpus", c_uint), ("cpu_quota", c_double), ("physical_cores", c_uint),
                ("logical_cpus", c_uint), ("use_smt", c_uint), ("threads_max", c_uint),
                ("capacity_why", c_char * 160)]


THREADS_ALL_OR_NOTHING, THREADS_TOP_LEVEL, THREADS_NOT_CURRENT, THREADS_LIMIT_POOLS = 0x1, 0x2, 0x4, 0x8
THREADS_DEFAULT_BYTES = (1 << 64) - 1
THREADS_MAX_WANT = 4096
NO_TIMEOUT = (1 << 64) - 1


# memgov/knn.h (libmemgov_knn, experimental tier)
class KnnOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("metric", c_int), ("exclude_self", c_int), ("scratch", c_void_p),
                ("scratch_bytes", c_uint64), ("threads", c_uint32), ("progress", c_void_p),
                ("progress_user", c_void_p), ("lease", c_void_p)]


# memgov/memmap.h: mapped arrays and RAM-disk folders (experimental tier)
class MmarrayOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("flags", c_uint32), ("file_mode", c_uint32), ("budget", c_void_p)]


MMARRAY_WRITE, MMARRAY_OVERWRITE = 0x1, 0x2


class RamdiskOptions(_Sized):
    _fields_ = [("struct_size", c_size_t), ("cap", c_uint64), ("parent", c_char_p), ("prefix", c_char_p),
                ("budget", c_void_p), ("flags", c_uint32)]


RAMDISK_ALLOW_DISK, RAMDISK_NO_SWEEP = 0x1, 0x2


_P = c_void_p
_S = c_int  # memgov_status
PROTOTYPES = {
    # common.h
    "memgov_version_number": (c_uint, []),
    "memgov_version_string": (c_char_p, []),
    "memgov_build_info": (c_char_p, []),
    "memgov_status_name": (c_char_p, [c_int]),
    "memgov_status_str": (c_char_p, [c_int]),
    "memgov_last_status": (c_int, []),
    "memgov_last_error": (c_char_p, []),
    "memgov_clear_error": (None, []),
    "memgov_mode_name": (c_char_p, [c_int]),
    "memgov_format_bytes": (c_size_t, [c_uint64, c_char_p, c_size_t]),
    # governor.h
    "memgov_options_init": (None, [POINTER(Options)]),
    "memgov_open": (_S, [POINTER(Options), POINTER(_P)]),
    "memgov_close": (_S, [_P]),
    "memgov_default": (_P, []),
    "memgov_root": (_P, [_P]),
    "memgov_governor_config": (_P, [_P]),
    "memgov_governor_fallback": (_P, [_P]),
    "memgov_governor_monitor": (_P, [_P]),
    "memgov_run_with_fallback": (_S, [_P, JOB_FN, _P, POINTER(FallbackRunOptions), POINTER(FallbackRunResult)]),
    # budget.h
    "memgov_budget_options_init": (None, [POINTER(BudgetOptions)]),
    "memgov_budget_create": (_S, [_P, POINTER(BudgetOptions), POINTER(_P)]),
    "memgov_budget_destroy": (_S, [_P]),
    "memgov_budget_name": (c_char_p, [_P]),
    "memgov_budget_parent": (_P, [_P]),
    "memgov_budget_set_limits": (_S, [_P, c_uint64, c_uint64]),
    "memgov_malloc": (_P, [_P, c_size_t]),
    "memgov_calloc": (_P, [_P, c_size_t, c_size_t]),
    "memgov_realloc": (_P, [_P, _P, c_size_t]),
    "memgov_free": (None, [_P, _P]),
    "memgov_usable_size": (c_size_t, [_P, _P]),
    "memgov_reserve": (_S, [_P, c_uint64]),
    "memgov_release": (_S, [_P, c_uint64]),
    "memgov_budget_add_reclaim": (_S, [_P, RECLAIM_FN, _P, c_int, POINTER(c_uint64)]),
    "memgov_budget_remove_reclaim": (_S, [_P, c_uint64]),
    "memgov_budget_add_listener": (_S, [_P, EVENT_FN, _P, POINTER(c_uint64)]),
    "memgov_budget_remove_listener": (_S, [_P, c_uint64]),
    "memgov_budget_get_stats": (_S, [_P, POINTER(BudgetStats)]),
    "memgov_budget_reset_peak": (_S, [_P]),
    # config.h
    "memgov_config_create": (_S, [POINTER(_P)]),
    "memgov_config_destroy": (None, [_P]),
    "memgov_config_set_effective_memory": (_S, [_P, c_uint64]),
    "memgov_config_mode": (c_int, [_P]),
    "memgov_config_add_listener": (_S, [_P, CONFIG_LISTENER_FN, _P, POINTER(c_uint64)]),
    "memgov_config_remove_listener": (_S, [_P, c_uint64]),
    "memgov_config_key_init": (None, [POINTER(ConfigKey)]),
    "memgov_config_register": (_S, [_P, POINTER(ConfigKey)]),
    "memgov_config_result_create": (_S, [POINTER(_P)]),
    "memgov_config_result_destroy": (None, [_P]),
    "memgov_config_result_size": (c_size_t, [_P]),
    "memgov_config_result_message": (c_char_p, [_P, c_size_t, POINTER(c_int)]),
    "memgov_config_load_file": (_S, [_P, c_char_p, c_uint, _P]),
    "memgov_config_load_string": (_S, [_P, c_char_p, c_size_t, c_char_p, c_uint, _P]),
    "memgov_config_load_env": (_S, [_P, c_uint, _P]),
    "memgov_config_set": (_S, [_P, c_char_p, c_char_p]),
    "memgov_config_parse_size": (_S, [c_char_p, c_uint64, POINTER(c_uint64)]),
    "memgov_config_parse_duration": (_S, [c_char_p, POINTER(c_uint64)]),
    "memgov_governor_config_result": (_P, [_P]),
    "memgov_config_set_for_mode": (_S, [_P, c_int, c_char_p, c_char_p]),
    "memgov_config_get_bool": (_S, [_P, c_char_p, POINTER(c_int)]),
    "memgov_config_get_int": (_S, [_P, c_char_p, POINTER(ctypes.c_int64)]),
    "memgov_config_get_unsigned": (_S, [_P, c_char_p, POINTER(c_uint64)]),
    "memgov_config_get_double": (_S, [_P, c_char_p, POINTER(c_double)]),
    "memgov_config_get_size": (_S, [_P, c_char_p, POINTER(c_uint64)]),
    "memgov_config_get_duration": (_S, [_P, c_char_p, POINTER(c_uint64)]),
    "memgov_config_get_text": (_S, [_P, c_char_p, c_char_p, c_size_t, POINTER(c_size_t), POINTER(c_int)]),
    "memgov_config_recommend": (_S, [_P, POINTER(Probe), c_uint64, c_uint64, POINTER(Recommendation)]),
    "memgov_config_history_count": (c_size_t, [_P]),
    "memgov_config_history_get": (_S, [_P, c_size_t, POINTER(ConfigChange)]),
    "memgov_config_dump": (_S, [_P, c_uint, c_char_p, c_size_t, POINTER(c_size_t)]),
    # probe.h
    "memgov_probe_options_init": (None, [POINTER(ProbeOptions)]),
    "memgov_probe_read": (_S, [POINTER(ProbeOptions), POINTER(Probe)]),
    # fallback.h
    "memgov_fallback_reason_name": (c_char_p, [c_int]),
    "memgov_fallback_mode": (c_int, [_P]),
    "memgov_fallback_update_ratio": (_S, [_P, c_double]),
    "memgov_fallback_evaluate": (_S, [_P]),
    "memgov_fallback_notify_refusal": (_S, [_P]),
    "memgov_fallback_pin": (_S, [_P, c_int]),
    "memgov_fallback_unpin": (_S, [_P]),
    "memgov_fallback_add_listener": (_S, [_P, TRANSITION_FN, _P, POINTER(c_uint64)]),
    "memgov_fallback_remove_listener": (_S, [_P, c_uint64]),
    "memgov_fallback_add_emergency": (_S, [_P, EMERGENCY_FN, _P, POINTER(c_uint64)]),
    "memgov_fallback_remove_emergency": (_S, [_P, c_uint64]),
    "memgov_fallback_history": (_S, [_P, c_size_t, POINTER(FallbackTransition)]),
    "memgov_fallback_get_stats": (_S, [_P, POINTER(FallbackStats)]),
    "memgov_fallback_run_options_init": (None, [POINTER(FallbackRunOptions)]),
    # monitor.h
    "memgov_monitor_options_init": (None, [POINTER(MonitorOptions)]),
    "memgov_monitor_create": (_S, [POINTER(MonitorOptions), POINTER(_P)]),
    "memgov_monitor_destroy": (None, [_P]),
    "memgov_monitor_add_metric": (_S, [_P, c_char_p, c_char_p, METRIC_FN, _P]),
    "memgov_monitor_sample": (_S, [_P]),
    "memgov_monitor_start": (_S, [_P]),
    "memgov_monitor_stop": (_S, [_P]),
    "memgov_monitor_get_metric_stats": (_S, [_P, c_char_p, POINTER(MetricStats)]),
    "memgov_monitor_history": (_S, [_P, c_char_p, c_size_t, POINTER(c_uint64), POINTER(c_double)]),
    "memgov_monitor_get_stats": (_S, [_P, POINTER(MonitorStats)]),
    "memgov_monitor_metric_name": (c_char_p, [_P, c_size_t]),
    "memgov_alert_level_name": (c_char_p, [c_int]),
    "memgov_alert_rule_init": (None, [POINTER(AlertRule)]),
    "memgov_monitor_add_alert": (_S, [_P, POINTER(AlertRule), POINTER(c_uint32)]),
    "memgov_monitor_add_alert_listener": (_S, [_P, ALERT_FN, _P, POINTER(c_uint64)]),
    "memgov_monitor_remove_alert_listener": (_S, [_P, c_uint64]),
    "memgov_monitor_alert_history": (_S, [_P, c_size_t, POINTER(Alert)]),
    "memgov_monitor_report": (_S, [_P, c_int, c_char_p, c_size_t, POINTER(c_size_t)]),
    "memgov_monitor_leak_check": (_S, [_P, LEAK_FN, _P, c_uint32, c_char_p, POINTER(LeakReport)]),
    "memgov_chunk_plan_options_init": (None, [POINTER(ChunkPlanOptions)]),
    "memgov_chunk_plan_compute": (_S, [POINTER(ChunkPlanOptions), POINTER(ChunkPlan)]),
    "memgov_csv_options_init": (None, [POINTER(CsvOptions)]),
    "memgov_csv_open": (_S, [c_char_p, POINTER(CsvOptions), POINTER(c_void_p)]),
    "memgov_csv_header": (_S, [_P, POINTER(c_uint64)]),
    "memgov_csv_next": (_S, [_P, POINTER(CsvChunk)]),
    "memgov_csv_close": (None, [_P]),
    # gpu.h (experimental tier) and the AIMD batcher of chunk.h
    "memgov_gpu_backend_name": (c_char_p, [c_int]),
    "memgov_gpu_options_init": (None, [POINTER(GpuOptions)]),
    "memgov_gpu_open": (_S, [_P, c_int, c_int, POINTER(GpuOptions), POINTER(c_void_p)]),
    "memgov_gpu_close": (_S, [_P]),
    "memgov_gpu_budget": (_P, [_P]),
    "memgov_gpu_of": (_P, [_P]),
    "memgov_gpu_malloc": (_P, [_P, c_size_t, _P]),
    "memgov_gpu_free": (_S, [_P, _P, _P]),
    "memgov_gpu_reserve": (_S, [_P, c_uint64]),
    "memgov_gpu_release": (_S, [_P, c_uint64]),
    "memgov_gpu_get_stats": (_S, [_P, POINTER(GpuStats)]),
    "memgov_gpu_torch_bind": (_S, [c_int, _P]),
    "memgov_batcher_options_init": (None, [POINTER(BatcherOptions)]),
    "memgov_batcher_create": (_S, [POINTER(BatcherOptions), POINTER(c_void_p)]),
    "memgov_batcher_destroy": (None, [_P]),
    "memgov_batcher_next": (c_uint64, [_P]),
    "memgov_batcher_success": (_S, [_P, c_uint64]),
    "memgov_batcher_refused": (_S, [_P, c_uint64]),
    "memgov_batcher_get_stats": (_S, [_P, POINTER(BatcherStats)]),
    # kernels.h (experimental tier)
    "memgov_kernels_isa": (c_char_p, []),
    "memgov_kernels_downcast_options_init": (None, [POINTER(DowncastOptions)]),
    "memgov_kernels_plan_downcast": (_S, [_P, c_int, c_size_t, POINTER(DowncastOptions), POINTER(DowncastPlan)]),
    "memgov_kernels_apply_downcast": (_S, [_P, c_int, c_size_t, _P, c_int, POINTER(DowncastOptions),
                                           POINTER(c_size_t)]),
    "memgov_kernels_downcast": (_S, [_P, c_int, c_size_t, _P, POINTER(DowncastOptions), POINTER(DowncastPlan)]),
    "memgov_kernels_factorize_options_init": (None, [POINTER(FactorizeOptions)]),
    "memgov_kernels_factorize_large_utf8": (_S, [_P, _P, _P, c_size_t, c_size_t, _P, POINTER(FactorizeOptions),
                                                 POINTER(_P)]),
    "memgov_kernels_factorize_int64": (_S, [_P, _P, c_size_t, _P, POINTER(FactorizeOptions), POINTER(_P)]),
    "memgov_kernels_dict_destroy": (None, [_P]),
    "memgov_kernels_dict_size": (c_size_t, [_P]),
    "memgov_kernels_dict_null_count": (c_size_t, [_P]),
    "memgov_kernels_dict_codes": (_P, [_P, POINTER(c_int), POINTER(c_size_t)]),
    "memgov_kernels_dict_strings": (_S, [_P, POINTER(POINTER(ctypes.c_int64)), POINTER(_P)]),
    "memgov_kernels_dict_int64": (_P, [_P]),
    "memgov_kernels_describe": (_S, [_P, c_int, c_size_t, POINTER(KernelsSummary)]),
    "memgov_kernels_accumulator_init": (None, [POINTER(Accumulator)]),
    "memgov_kernels_accumulate": (_S, [POINTER(Accumulator), _P, c_int, c_size_t]),
    "memgov_kernels_accumulator_merge": (_S, [POINTER(Accumulator), POINTER(Accumulator)]),
    "memgov_kernels_accumulator_result": (_S, [POINTER(Accumulator), POINTER(KernelsSummary)]),
    # threads.h (experimental tier): the BLAS and OpenMP thread pools
    "memgov_pools_find": (_S, [POINTER(_P)]),
    "memgov_pools_count": (c_size_t, [_P]),
    "memgov_pools_get": (_S, [_P, c_size_t, POINTER(PoolInfo)]),
    "memgov_pools_limit": (_S, [_P, c_int]),
    "memgov_pools_restore": (_S, [_P]),
    "memgov_pools_destroy": (None, [_P]),
    "memgov_pools_env_name": (c_char_p, [c_size_t]),
    "memgov_pools_child_env": (_S, [POINTER(c_char_p), c_int, POINTER(POINTER(c_char_p))]),
    "memgov_pools_child_env_free": (None, [POINTER(c_char_p)]),
    # threads.h (experimental tier): leases
    "memgov_threads_acquire": (_S, [_P, c_uint, c_uint64, _P, c_uint, POINTER(_P)]),
    "memgov_threads_acquire_wait": (_S, [_P, c_uint, c_uint64, _P, c_uint, c_uint64, POINTER(_P)]),
    "memgov_threads_release": (_S, [_P]),
    "memgov_threads_lease_free": (_S, [_P]),
    "memgov_threads_count": (c_uint, [_P]),
    "memgov_threads_target": (c_uint, [_P]),
    "memgov_threads_resize": (_S, [_P, c_uint, POINTER(c_uint)]),
    "memgov_threads_get_stats": (_S, [_P, POINTER(ThreadsStats)]),
    # memmap.h: mapped arrays and RAM-disk folders (experimental tier)
    "memgov_mmarray_options_init": (None, [POINTER(MmarrayOptions)]),
    "memgov_mmarray_create": (_S, [c_char_p, c_int, c_size_t, POINTER(c_uint64), POINTER(MmarrayOptions),
                                   POINTER(_P)]),
    "memgov_mmarray_open": (_S, [c_char_p, POINTER(MmarrayOptions), POINTER(_P)]),
    "memgov_mmarray_flush": (_S, [_P]),
    "memgov_mmarray_close": (_S, [_P]),
    "memgov_mmarray_data": (_P, [_P]),
    "memgov_mmarray_dtype": (c_int, [_P]),
    "memgov_mmarray_ndim": (c_size_t, [_P]),
    "memgov_mmarray_shape": (POINTER(c_uint64), [_P]),
    "memgov_mmarray_nbytes": (c_uint64, [_P]),
    "memgov_mmarray_writable": (c_int, [_P]),
    "memgov_mmarray_path": (c_char_p, [_P]),
    "memgov_ramdisk_options_init": (None, [POINTER(RamdiskOptions)]),
    "memgov_ramdisk_create": (_S, [POINTER(RamdiskOptions), POINTER(_P)]),
    "memgov_ramdisk_path": (c_char_p, [_P]),
    "memgov_ramdisk_create_file": (_S, [_P, c_char_p, c_uint64, POINTER(c_int)]),
    "memgov_ramdisk_remove_file": (_S, [_P, c_char_p]),
    "memgov_ramdisk_recount": (_S, [_P, POINTER(c_uint64)]),
    "memgov_ramdisk_used": (c_uint64, [_P]),
    "memgov_ramdisk_cap": (c_uint64, [_P]),
    "memgov_ramdisk_close": (_S, [_P]),
    "memgov_ramdisk_sweep": (_S, [c_char_p, c_char_p, POINTER(c_uint)]),
    # memmap.h: file-backed budgets and spill (experimental tier)
    "memgov_file_budget_options_init": (None, [POINTER(FileBudgetOptions)]),
    "memgov_file_budget_create": (_S, [_P, POINTER(BudgetOptions), POINTER(FileBudgetOptions), POINTER(_P)]),
    "memgov_file_budget_get_stats": (_S, [_P, POINTER(FileBudgetStats)]),
    "memgov_file_budget_purge": (_S, [_P]),
    "memgov_file_budget_page_out": (_S, [_P]),
    "memgov_budget_is_file_backed": (c_int, [_P]),
    "memgov_budget_set_spill": (_S, [_P, _P, c_uint64]),
    "memgov_spill_get_stats": (_S, [_P, POINTER(SpillStats)]),
}


# ---- loading ----------------------------------------------------------------------------------------------------

def _candidates() -> List[Tuple[str, str]]:
    """(path, where it came from) in the order tried."""
    out = []
    if _paths.LIBRARY:
        out.append((_paths.LIBRARY, "recorded when the package was built/installed"))
    env = os.environ.get("MEMGOV_LIBRARY")
    if env:
        out.append((env, "$MEMGOV_LIBRARY"))
    out.append((SONAME, "the dynamic loader's search path"))
    return out


def _check(lib: ctypes.CDLL) -> None:
    """Raises OSError saying why `lib` is not a compatible libmemgov."""
    missing = [name for name in PROTOTYPES if not hasattr(lib, name)]
    if missing:
        raise OSError(f"not a compatible libmemgov (ABI {SONAME}): missing {len(missing)} function(s), "
                      f"e.g. {', '.join(missing[:3])}")
    lib.memgov_version_number.restype = c_uint
    number = lib.memgov_version_number()
    major, minor = number // 10000, number // 100 % 100
    if major != BUILT_VERSION[0] or minor < BUILT_VERSION[1]:
        raise OSError(f"library release {major}.{minor}.{number % 100} is not compatible with this package "
                      f"(built for {'.'.join(map(str, BUILT_VERSION))}: same major, at least its minor)")


def load() -> Tuple[ctypes.CDLL, str]:
    """Opens and checks the library; returns it and the path it came from. ImportError lists every attempt."""
    tried = []
    for path, where in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{path} ({where}): no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
            _check(lib)
        except OSError as e:
            tried.append(f"{path} ({where}): {e}")
            continue
        for name, (restype, argtypes) in PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib, path
    raise ImportError("memgov: cannot load the C library libmemgov; tried:\n  " + "\n  ".join(tried))


LIB, LIBRARY_PATH = load()


def last_error() -> str:
    """The calling thread's last memgov error message (memgov_last_error)."""
    return (LIB.memgov_last_error() or b"").decode("utf-8", "replace")


def text(value: Optional[bytes]) -> str:
    """A C string (bytes or None) as str."""
    return "" if value is None else value.decode("utf-8", "replace")


def address(name: str) -> int:
    """The address of one of the library's functions (for the numpy handler extension)."""
    return ctypes.cast(getattr(LIB, name), c_void_p).value or 0


# ---- calls whose C names or signatures changed in issue 20: the package uses only these -----------------------

def budget_get_stats(h: int, out: "ctypes._Pointer[BudgetStats]") -> int:
    """memgov_budget_get_stats."""
    return int(LIB.memgov_budget_get_stats(h, out))


def budget_add_reclaim(h: int, cfunc: object, user: int, priority: int) -> object:
    """memgov_budget_add_reclaim; returns the id for budget_remove_reclaim. Raises on failure."""
    from .errors import check
    out = c_uint64()
    check(LIB.memgov_budget_add_reclaim(h, cfunc, user, priority, ctypes.byref(out)))
    return out.value


def budget_remove_reclaim(h: int, token: object) -> int:
    return int(LIB.memgov_budget_remove_reclaim(h, token))


def budget_add_listener(h: int, cfunc: object, user: int) -> object:
    """memgov_budget_add_listener; returns the id for budget_remove_listener. Raises on failure."""
    from .errors import check
    out = c_uint64()
    check(LIB.memgov_budget_add_listener(h, cfunc, user, ctypes.byref(out)))
    return out.value


def budget_remove_listener(h: int, token: object) -> int:
    return int(LIB.memgov_budget_remove_listener(h, token))


def config_add_listener(h: int, cfunc: object) -> object:
    """memgov_config_add_listener; returns the id for config_remove_listener."""
    from .errors import check
    out = c_uint64()
    check(LIB.memgov_config_add_listener(h, cfunc, None, ctypes.byref(out)))
    return out.value


def config_remove_listener(h: int, token: object) -> int:
    return int(LIB.memgov_config_remove_listener(h, token))


def fallback_add_listener(h: int, call: "object") -> Tuple[object, object]:
    """memgov_fallback_add_listener with call(transition) -> (id, C function object to keep)."""
    from .errors import check
    cfunc = TRANSITION_FN(lambda t, user: call(t.contents))  # type: ignore[operator]
    out = c_uint64()
    check(LIB.memgov_fallback_add_listener(h, cfunc, None, ctypes.byref(out)))
    return out.value, cfunc


def fallback_remove_listener(h: int, token: object) -> int:
    return int(LIB.memgov_fallback_remove_listener(h, token))


def fallback_add_emergency(h: int, call: "object") -> Tuple[object, object]:
    """memgov_fallback_add_emergency with call(pressure) -> (id, C function object to keep)."""
    from .errors import check
    cfunc = EMERGENCY_FN(lambda p, user: call(p))  # type: ignore[operator]
    out = c_uint64()
    check(LIB.memgov_fallback_add_emergency(h, cfunc, None, ctypes.byref(out)))
    return out.value, cfunc


def fallback_remove_emergency(h: int, token: object) -> int:
    return int(LIB.memgov_fallback_remove_emergency(h, token))


def monitor_add_alert_listener(h: int, call: "object") -> Tuple[object, object]:
    """memgov_monitor_add_alert_listener with call(alert) -> (id, C function object to keep)."""
    from .errors import check
    cfunc = ALERT_FN(lambda a, user: call(a.contents))  # type: ignore[operator]
    out = c_uint64()
    check(LIB.memgov_monitor_add_alert_listener(h, cfunc, None, ctypes.byref(out)))
    return out.value, cfunc


def monitor_remove_alert_listener(h: int, token: object) -> int:
    return int(LIB.memgov_monitor_remove_alert_listener(h, token))


def monitor_get_metric_stats(h: int, name: bytes, out: object) -> int:
    """memgov_monitor_get_metric_stats."""
    return int(LIB.memgov_monitor_get_metric_stats(h, name, out))


# ---- libmemgov_knn (memgov.knn), loaded on first use ----------------------------------------------------------

KNN_SONAME = "libmemgov_knn.so.1"
KNN_PROTOTYPES = {
    "memgov_knn_options_init": (None, [POINTER(KnnOptions)]),
    "memgov_knn": (_S, [POINTER(ctypes.c_float), c_uint64, POINTER(ctypes.c_float), c_uint64, c_uint32, c_uint32,
                        POINTER(KnnOptions), POINTER(ctypes.c_int64), POINTER(ctypes.c_float), _P]),
}
_knn: List[object] = []  # [library or None, why not]


def knn_library() -> Optional[ctypes.CDLL]:
    """libmemgov_knn, opened once: at the path recorded at build/install time, $MEMGOV_KNN_LIBRARY, or by its
    soname. None when it cannot be opened (knn_library_error() says why)."""
    if not _knn:
        tried = []
        paths = [p for p in (getattr(_paths, "KNN_LIBRARY", ""), os.environ.get("MEMGOV_KNN_LIBRARY")) if p]
        for path in paths + [KNN_SONAME]:
            try:
                lib = ctypes.CDLL(path)
                for name, (restype, argtypes) in KNN_PROTOTYPES.items():
                    fn = getattr(lib, name)
                    fn.restype = restype
                    fn.argtypes = argtypes
                _knn[:] = [lib, ""]
                break
            except (OSError, AttributeError) as e:
                tried.append(f"{path}: {e}")
        else:
            _knn[:] = [None, "; ".join(tried)]
    return _knn[0]  # type: ignore[return-value]


def knn_library_error() -> str:
    """Why knn_library() returned None ("" when it did not)."""
    knn_library()
    return str(_knn[1])
