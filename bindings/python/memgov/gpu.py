"""Device budgets (memgov/gpu.h, docs/gpu.md): a capped budget tree per GPU over CUDA, Metal or a simulated device.

::

    import memgov

    with memgov.Governor(env=False) as gov, memgov.Gpu(gov, "cuda", 0, limit="20GiB") as gpu:
        model = gpu.child("model", hard="12GiB")
        addr = gpu.malloc(64 << 20, budget=model)    # device memory charged to 'model'
        gpu.free(addr, budget=model)

A refusal raises GpuOutOfMemoryError (a memgov.BudgetExceededError, hence a MemoryError) whose text names the
device, the budget, its limit and use and the request; once memgov.torch is imported, its OutOfMemoryError, which is
also a torch.cuda.OutOfMemoryError. memgov.torch builds PyTorch's integration on this module.
"""
from __future__ import annotations

import ctypes
import dataclasses
import sys
import weakref
from typing import TYPE_CHECKING, Any, List, Optional

from . import _lib
from ._lib import LIB
from .budget import Budget, _cleanup
from .errors import BudgetExceededError, InvalidArgumentError, StateError, check, error_for
from .sizes import SizeLike, format_bytes, parse_size

if TYPE_CHECKING:  # pragma: no cover
    from .governor import Governor

BACKENDS = {"simulated": 1, "sim": 1, "cuda": 2, "metal": 3}


class GpuOutOfMemoryError(BudgetExceededError):
    """A device budget (or the device itself) refused memory: MEMGOV_ENOMEM with memgov's message. memgov.torch
    raises a subclass that is also a torch.cuda.OutOfMemoryError."""


@dataclasses.dataclass(frozen=True)
class GpuStats:
    """A device's numbers (memgov_gpu_stats), bytes unless said otherwise: the driver's ``device`` name, total and
    free memory (all processes); the device budget's ``used``, ``peak``, limits and ``reserved``; live ``blocks``;
    counts of allocations, frees, limit refusals, device refusals and device refusals saved by the retry; the
    CUDA pool's release threshold; whether blocks come from the stream-ordered pool; whether the monitor has the
    device's metrics."""
    backend: str
    device_index: int
    device: str
    device_total: int
    device_free: int
    used: int
    peak: int
    hard_limit: int
    soft_limit: int
    reserved: int
    blocks: int
    allocations: int
    frees: int
    limit_refusals: int
    device_refusals: int
    device_retries: int
    release_threshold: int
    stream_ordered: bool
    metrics: bool


def _refused() -> BaseException:
    """The exception for the last failed call of this thread: for a refusal GpuOutOfMemoryError, or once
    memgov.torch is imported its OutOfMemoryError (also a torch.cuda.OutOfMemoryError)."""
    st = LIB.memgov_last_status()
    if st == 2:
        cls = getattr(sys.modules.get(__package__ + ".torch"), "OutOfMemoryError", GpuOutOfMemoryError)
        return cls(_lib.last_error(), 2)
    return error_for(st)


def _close_device(handle: int) -> int:
    return int(LIB.memgov_gpu_close(handle))


class Gpu:
    """An open device of a governor, with its device budget (``.budget``), the root of a budget tree of its own.

    backend: "simulated" (alias "sim"), "cuda" or "metal"; index: the device (0-based). limit: the device budget's
    hard cap (int bytes or text like "20GiB"); None = the key gpu.limit of the governor's configuration (bytes or a
    percentage of the DEVICE's total; 0 = the total); never above the device's total. soft: a soft limit (events).
    name: the budget's name and the monitor's metric prefix gpu.<name>.* (default "cuda0", "sim0", ...).
    sim_total: the simulated device's size (default 1 GiB). library: the CUDA driver library to load (default
    libcuda.so.1). plain_alloc: CUDA without the stream-ordered pool. release_threshold: bytes the CUDA pool keeps
    cached (None = the cap; 0 = give everything back at each synchronisation). metrics: add gpu.<name>.used /
    .free / .total to the governor's monitor (possible only before its first sample).

    UnsupportedError when the backend is not available here (no driver, no device, Metal outside macOS): its
    message says what was missing. Close it (or leave the ``with`` block) before the governor; Governor.close()
    closes the devices it can."""

    def __init__(self, governor: "Governor", backend: str = "simulated", index: int = 0, *,
                 limit: Optional[SizeLike] = None, soft: Optional[SizeLike] = None, name: Optional[str] = None,
                 sim_total: Optional[SizeLike] = None, library: Optional[str] = None, plain_alloc: bool = False,
                 release_threshold: Optional[SizeLike] = None, metrics: bool = True) -> None:
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"unknown GPU backend {backend!r} (simulated, cuda or metal)")
        gh = governor._check()
        opts = _lib.GpuOptions.new()
        LIB.memgov_gpu_options_init(ctypes.byref(opts))
        opts.name = None if name is None else str(name).encode()
        opts.limit = 0 if limit is None else parse_size(limit, "GPU limit")
        opts.soft_limit = 0 if soft is None else parse_size(soft, "GPU soft limit")
        opts.flags = (_lib.GPU_PLAIN_ALLOC if plain_alloc else 0) | (0 if metrics else _lib.GPU_NO_METRICS)
        if release_threshold is not None:
            n = parse_size(release_threshold, "release threshold")
            opts.release_threshold = _lib.GPU_RELEASE_ALL if n == 0 else n
        opts.library = None if library is None else str(library).encode()
        opts.sim_total = 0 if sim_total is None else parse_size(sim_total, "simulated device size")
        out = ctypes.c_void_p()
        with governor._s.lock:
            check(LIB.memgov_gpu_open(gh, BACKENDS[backend], int(index), ctypes.byref(opts), ctypes.byref(out)))
            self._handle = out.value or 0
            self._gov = governor
            self._closed = False
            self._budget = Budget(governor, LIB.memgov_gpu_budget(self._handle), owned=False)
            self._children: List[Budget] = []
            governor._s.devices.append(self)
        self._finalizer = weakref.finalize(self, _close_device, self._handle)

    # -- identity and numbers -------------------------------------------------------------------------------------
    @property
    def handle(self) -> int:
        """The memgov_gpu* address. StateError once closed."""
        self._check()
        return self._handle

    @property
    def budget(self) -> Budget:
        """The device budget: the root of the device's budget tree."""
        self._check()
        return self._budget

    @property
    def name(self) -> str:
        """The device budget's name."""
        return self._budget.name

    @property
    def closed(self) -> bool:
        """True once closed (or its governor closed)."""
        return self._closed or self._gov._s.closed

    def _check(self) -> int:
        if self.closed:
            raise StateError(f"device '{self._budget.name}' is closed")
        return self._handle

    def stats(self) -> GpuStats:
        """A snapshot of the device's numbers (memgov_gpu_get_stats; asks the driver for its free memory)."""
        out = _lib.GpuStats.new()
        check(LIB.memgov_gpu_get_stats(self._check(), ctypes.byref(out)))
        values = {f.name: getattr(out, f.name) for f in dataclasses.fields(GpuStats)}
        values["backend"] = _lib.text(LIB.memgov_gpu_backend_name(out.backend))
        values["device"] = out.device.decode(errors="replace")
        values["stream_ordered"] = bool(out.stream_ordered)
        values["metrics"] = bool(out.metrics)
        return GpuStats(**values)

    def __repr__(self) -> str:
        if self.closed:
            return f"<memgov.Gpu '{self._budget.name}' (closed)>"
        s = self.stats()
        return (f"<memgov.Gpu '{self.name}' {s.backend} {s.device!r}: used {format_bytes(s.used)} of "
                f"{format_bytes(s.hard_limit)}, device {format_bytes(s.device_free)} free of "
                f"{format_bytes(s.device_total)}>")

    # -- budgets below the device budget --------------------------------------------------------------------------
    def child(self, name: str, hard: Optional[SizeLike] = None, soft: Optional[SizeLike] = None,
              parent: Optional[Budget] = None) -> Budget:
        """A budget under the device budget (or under `parent`, a budget of this device), e.g. one per model."""
        self._check()
        b = self._gov.budget(name, hard=hard, soft=soft, parent=parent if parent is not None else self._budget)
        self._children.append(b)
        return b

    def _budget_handle(self, budget: Optional[Budget]) -> int:
        self._check()
        return (budget if budget is not None else self._budget).handle

    # -- device memory --------------------------------------------------------------------------------------------
    def malloc(self, nbytes: int, budget: Optional[Budget] = None, stream: int = 0) -> int:
        """Allocates nbytes of device memory charged to `budget` (default: the device budget) and returns its
        address (CUDA: a CUdeviceptr; simulated: host memory). stream: a CUstream / cudaStream_t address (0 = the
        default stream). GpuOutOfMemoryError when refused."""
        p = LIB.memgov_gpu_malloc(self._budget_handle(budget), int(nbytes), stream or None)
        if not p:
            raise _refused()
        return int(p)

    def free(self, address: int, budget: Optional[Budget] = None, stream: int = 0) -> None:
        """Frees a block of malloc() on the budget it came from. NotFoundError for an unknown address,
        InvalidArgumentError for a block of another budget (nothing is freed either way)."""
        check(LIB.memgov_gpu_free(self._budget_handle(budget), int(address), stream or None))

    def reserve(self, nbytes: SizeLike, budget: Optional[Budget] = None) -> "GpuReservation":
        """Charges nbytes a framework allocated on the device itself; GpuOutOfMemoryError when a cap refuses.
        Returns a reservation to release (or use as a context manager)."""
        n = parse_size(nbytes, "reservation")
        b = budget if budget is not None else self._budget
        if LIB.memgov_gpu_reserve(self._budget_handle(b), n) != 0:
            raise _refused()
        return GpuReservation(self, b, n)

    def release(self, nbytes: SizeLike, budget: Optional[Budget] = None) -> None:
        """Credits nbytes reserved on `budget`; RangeError if more than it has reserved."""
        check(LIB.memgov_gpu_release(self._budget_handle(budget), parse_size(nbytes, "release")))

    # -- closing --------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Destroys the empty child budgets made with child() and closes the device. BusyError (the device stays
        open) while its budgets hold blocks or reservations. Idempotent."""
        g = self._gov._s
        with g.lock:
            if self.closed:
                return
            for b in reversed(self._children):
                _cleanup(g, b._s)
            check(LIB.memgov_gpu_close(self._handle))
            self._closed = True
            self._finalizer.detach()
            self._budget._s.destroyed = True
            if self in g.devices:
                g.devices.remove(self)

    def __enter__(self) -> "Gpu":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class GpuReservation:
    """Bytes charged with Gpu.reserve(); release() (or leaving the ``with`` block) gives them back once."""

    def __init__(self, gpu: Gpu, budget: Budget, nbytes: int) -> None:
        self.gpu, self.budget, self.nbytes = gpu, budget, nbytes
        self.released = False

    def release(self) -> None:
        """Credits the reserved bytes; idempotent."""
        if not self.released:
            self.gpu.release(self.nbytes, self.budget)
            self.released = True

    def __enter__(self) -> "GpuReservation":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
