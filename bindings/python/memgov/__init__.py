"""memgov — budgets that govern numpy and pandas memory, configuration, machine probe, monitor and fallback.

A Python front end to libmemgov (the C library, reached through ctypes) plus a numpy memory handler::

    import numpy as np, memgov

    with memgov.Governor(limit="4GiB") as gov:
        features = gov.budget("features", hard="1GiB")
        with features.numpy():
            x = np.ones((1024, 1024))       # 8 MiB charged to 'features'
        print(features.stats().used)

Crossing a budget's hard cap raises MemoryError (numpy's, or memgov.BudgetExceededError) whose text names the
budget, its limit, its use and the request. docs/python.md is the guide.
"""
from __future__ import annotations

from ._lib import LIB as _LIB, LIBRARY_PATH
from .chunking import read_csv_chunks
from .knn import knn
from .budget import Budget, BudgetEvent, BudgetStats, NumpyScope, Reservation, set_callback_error_hook
from .config import Config, ConfigChange, ValidationResult
from .errors import (BudgetExceededError, BusyError, CanceledError, ConfigTypeError, ExistsError, InternalError,
                     InvalidArgumentError, MemgovError, MemgovIOError, NoSpaceError, NotFoundError, ParseError,
                     RangeError, SizeOverflowError, StateError, UnsupportedError)
from .fallback import FallbackStats, Fallback, Mode, Transition
from .batcher import AdaptiveBatch, Batcher, BatcherStats
from .gpu import Gpu, GpuOutOfMemoryError, GpuReservation, GpuStats
from .governor import Governor, default
from .monitor import Alert, LeakReport, MetricStats, Monitor, MonitorStats, leak_check
from .probe import ProbeResult, probe
from .ramdisk import RamDisk
from .sizes import format_bytes, parse_duration, parse_size
from . import threads  # memgov.threads: the BLAS and OpenMP pools (and thread leases)

#: The loaded C library's release version (memgov_version_string()).
__version__: str = _LIB.memgov_version_string().decode()
#: How the loaded C library was built (memgov_build_info()).
build_info: str = _LIB.memgov_build_info().decode()



def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """memgov.kernels, memgov.pandas, memgov.mmarray and memgov.torch load on first use (they import numpy, pandas,
    torch)."""
    if name in ("kernels", "pandas", "mmarray", "torch"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'memgov' has no attribute {name!r}")


__all__ = [
    "AdaptiveBatch", "Batcher", "BatcherStats", "Gpu", "GpuOutOfMemoryError", "GpuReservation", "GpuStats",
    "Alert", "Budget", "BudgetEvent", "BudgetExceededError", "BudgetStats", "BusyError", "CanceledError",
    "Config", "ConfigChange", "ConfigTypeError", "ExistsError", "Fallback", "FallbackStats", "Governor",
    "InternalError", "InvalidArgumentError", "LIBRARY_PATH", "LeakReport", "MemgovError", "MemgovIOError",
    "MetricStats", "Mode", "Monitor", "MonitorStats", "NoSpaceError", "NotFoundError", "NumpyScope", "ParseError",
    "ProbeResult", "RamDisk", "RangeError", "Reservation", "SizeOverflowError", "StateError", "Transition",
    "UnsupportedError", "ValidationResult", "__version__", "build_info", "default", "format_bytes", "knn",
    "leak_check", "parse_duration", "parse_size", "probe", "read_csv_chunks", "set_callback_error_hook",
    "threads",
]
