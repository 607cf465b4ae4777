"""PyTorch on device budgets (docs/gpu.md, "PyTorch"): ``memgov.torch.use_budget(budget)``,
``memgov.torch.limit(gov, "20GiB")``, the out-of-memory exception that carries memgov's message, and the
training-loop helper that halves the batch on out-of-memory and grows it back.

::

    import memgov, memgov.torch

    with memgov.Governor(env=False) as gov, memgov.torch.limit(gov, "20GiB") as tb:
        loop = memgov.torch.AdaptiveBatch(max=256, sync=tb)
        for _ in range(steps):
            loss = loop.run(train_step)          # train_step(batch_size) -> loss

Two routes govern torch's CUDA memory (``mode``):

- ``"mempool"``: memgov's allocation functions (exported by libmemgov itself, no compiler needed) as a
  ``torch.cuda.memory.CUDAPluggableAllocator`` inside a ``torch.cuda.MemPool`` used with
  ``torch.cuda.use_mem_pool``: every segment torch's caching allocator takes is a device block charged to the
  budget; a refusal is a NULL, on which torch frees its cache, retries and raises torch.cuda.OutOfMemoryError.
  Needs a torch with MemPool (2.5 or later).
- ``"fraction"`` (no compile, any torch with CUDA): torch's own caching allocator, capped with
  ``torch.cuda.set_per_process_memory_fraction(limit / device total)``, and its reserved bytes mirrored into the
  budget by ``sync()`` (memgov_gpu_reserve / memgov_gpu_release) so the budget tree and the monitor see them;
  the budget gets a reclaim callback that empties torch's cache.
- ``"auto"``: mempool where torch has it, else fraction.

The bare pluggable allocator (``torch.cuda.memory.change_current_allocator``) is never used: torch does not check
its result, so a refusal there would become a tensor with a NULL data pointer.

Importing this module imports torch (ImportError without it). Only the CPU parts were tested by memgov's CI
(Debian's torch 1.13, CPU only): the exception classes, AdaptiveBatch, and the fraction route's mirroring against a
stand-in for torch.cuda. Nothing here has run on a GPU yet: scripts/gpu-check.sh does that (docs/gpu.md).
"""
from __future__ import annotations

import ctypes
import threading
from typing import Any, Optional

import torch as _torch

from . import _lib
from ._lib import LIB
from .batcher import AdaptiveBatch, Batcher, BatcherStats, out_of_memory_types
from .budget import Budget
from .errors import InvalidArgumentError, UnsupportedError, check
from .gpu import Gpu, GpuOutOfMemoryError
from .sizes import SizeLike

__all__ = ["AdaptiveBatch", "Batcher", "BatcherStats", "OutOfMemoryError", "TorchBudget", "limit", "translate",
           "use_budget"]


class OutOfMemoryError(GpuOutOfMemoryError, _torch.cuda.OutOfMemoryError):
    """A memgov refusal as PyTorch knows it: both memgov.GpuOutOfMemoryError (a MemoryError) and
    torch.cuda.OutOfMemoryError, so ``except torch.cuda.OutOfMemoryError`` catches it; its text is memgov's message
    (device, budget, limit, use, request), after torch's own when it translates one of torch's errors."""


def translate(exc: BaseException) -> BaseException:
    """torch's out-of-memory error as memgov's OutOfMemoryError carrying memgov's message, when the last memgov
    call of this thread was a refusal (the MemPool route: torch's allocator called memgov, which refused); any
    other exception unchanged. Use: ``except torch.cuda.OutOfMemoryError as e: raise memgov.torch.translate(e)``."""
    if isinstance(exc, OutOfMemoryError) or not isinstance(exc, _torch.cuda.OutOfMemoryError):
        return exc
    if LIB.memgov_last_status() != 2:
        return exc
    err = OutOfMemoryError(f"{exc}\nmemgov: {_lib.last_error()}", 2)
    err.__cause__ = exc
    return err


def _device_budget_gpu(budget: Budget) -> int:
    h = budget.handle
    if not LIB.memgov_gpu_of(h):
        raise InvalidArgumentError(f"budget '{budget.name}' is a host budget, not one of a device (memgov.Gpu)")
    return h


class TorchBudget:
    """Governs torch's CUDA memory on `device` with a device budget (see the module for the routes). A context
    manager: entering installs the route, leaving removes it (and, for fraction, releases the mirrored bytes and
    sets the fraction back to 1). ``sync()`` mirrors torch's reserved bytes into the budget (fraction route; a
    no-op for mempool, where every segment is charged when torch takes it) and raises OutOfMemoryError when the
    budget refuses them even after emptying torch's cache. ``_cuda`` stands in for torch.cuda in tests."""

    def __init__(self, budget: Budget, device: Optional[int] = None, mode: str = "auto", _cuda: Any = None,
                 _gpu: Optional[Gpu] = None) -> None:
        if mode not in ("auto", "mempool", "fraction"):
            raise InvalidArgumentError(f"mode {mode!r}: one of auto, mempool, fraction")
        self.budget = budget
        self.cuda = _cuda if _cuda is not None else _torch.cuda
        self.device = 0 if device is None else int(device)
        self.requested_mode = mode
        self.mode = ""
        self.mirrored = 0
        self._gpu = _gpu  # closed on exit when this object opened it (limit())
        self._lock = threading.Lock()
        self._syncing = threading.local()  # set while this thread's sync() charges: its refusal runs _empty_cache
        self._pool_ctx: Any = None
        self._pool: Any = None
        self._reclaim: Any = None
        _device_budget_gpu(budget)

    def _choose(self) -> str:
        if not self.cuda.is_available():
            raise UnsupportedError("memgov.torch: this torch has no CUDA device (torch.cuda.is_available() is "
                                   "False): nothing to govern")
        has_pool = hasattr(self.cuda, "MemPool") and hasattr(self.cuda, "use_mem_pool") and \
            hasattr(getattr(self.cuda, "memory", None), "CUDAPluggableAllocator")
        if self.requested_mode == "mempool" and not has_pool:
            raise UnsupportedError(f"memgov.torch: mode 'mempool' needs torch.cuda.MemPool, use_mem_pool and "
                                   f"CUDAPluggableAllocator (torch 2.5 or later); this is torch "
                                   f"{_torch.__version__}: use mode 'fraction'")
        if self.requested_mode == "auto":
            return "mempool" if has_pool else "fraction"
        return self.requested_mode

    def _limit_bytes(self) -> int:
        """The tightest hard limit from the budget up to the device budget (0 = none)."""
        limits = []
        h = self.budget.handle
        while h:
            st = _lib.BudgetStats.new()
            check(_lib.budget_get_stats(h, ctypes.byref(st)))
            if st.hard_limit:
                limits.append(int(st.hard_limit))
            h = LIB.memgov_budget_parent(h) or 0
        return min(limits) if limits else 0

    def __enter__(self) -> "TorchBudget":
        self.mode = self._choose()
        if self.mode == "mempool":
            check(LIB.memgov_gpu_torch_bind(self.device, self.budget.handle))
            alloc = self.cuda.memory.CUDAPluggableAllocator(_lib.LIBRARY_PATH, "memgov_gpu_torch_malloc",
                                                             "memgov_gpu_torch_free")
            self._pool = self.cuda.MemPool(alloc.allocator())
            self._pool_ctx = self.cuda.use_mem_pool(self._pool, self.device)
            self._pool_ctx.__enter__()
            return self
        total = int(self.cuda.get_device_properties(self.device).total_memory)
        cap = self._limit_bytes()
        fraction = 1.0 if cap == 0 or total == 0 else min(1.0, cap / total)
        self.cuda.set_per_process_memory_fraction(fraction, self.device)
        self._reclaim = self.budget.on_refusal(self._empty_cache, priority=0)
        self.sync()
        return self

    def _empty_cache(self, needed: int, refusing: str) -> int:
        """The reclaim callback (fraction route): torch's cache back to the device, the mirror updated. Inside
        sync()'s own charge it does nothing (sync empties the cache itself and tries once more)."""
        if getattr(self._syncing, "active", False):
            return 0
        before = self.mirrored
        self.cuda.empty_cache()
        self.sync(raise_on_refusal=False)
        return max(0, before - self.mirrored)

    def _reserve(self, nbytes: int) -> bool:
        self._syncing.active = True
        try:
            return LIB.memgov_gpu_reserve(self.budget.handle, nbytes) == 0
        finally:
            self._syncing.active = False

    def sync(self, raise_on_refusal: bool = True) -> None:
        """Mirrors torch's reserved bytes on the device into the budget (fraction route)."""
        if self.mode != "fraction":
            return
        with self._lock:
            reserved = int(self.cuda.memory_reserved(self.device))
            delta = reserved - self.mirrored
            if delta < 0:
                check(LIB.memgov_gpu_release(self.budget.handle, -delta))
                self.mirrored = reserved
                return
            if delta == 0:
                return
            if self._reserve(delta):
                self.mirrored = reserved
                return
            message = _lib.last_error()
        if not raise_on_refusal:
            return
        self.cuda.empty_cache()
        with self._lock:
            reserved = int(self.cuda.memory_reserved(self.device))
            delta = reserved - self.mirrored
            if delta <= 0 or self._reserve(delta):
                if delta < 0:
                    check(LIB.memgov_gpu_release(self.budget.handle, -delta))
                self.mirrored = reserved
                return
            message = _lib.last_error()
        raise OutOfMemoryError(f"torch holds {reserved} bytes on CUDA device {self.device}, more than the budget "
                               f"allows: {message}", 2)

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.mode == "mempool":
                self._pool_ctx.__exit__(None, None, None)
                self._pool_ctx = None
                LIB.memgov_gpu_torch_bind(self.device, None)  # EBUSY while torch still holds the pool's blocks
            elif self.mode == "fraction":
                if self._reclaim is not None:
                    self._reclaim.remove()
                self.cuda.set_per_process_memory_fraction(1.0, self.device)
                with self._lock:
                    if self.mirrored:
                        check(LIB.memgov_gpu_release(self.budget.handle, self.mirrored))
                        self.mirrored = 0
            self.mode = ""
        finally:
            if self._gpu is not None:
                self._gpu.close()


def use_budget(budget: Budget, device: Optional[int] = None, mode: str = "auto") -> TorchBudget:
    """Governs torch's memory on CUDA device `device` (default 0) with `budget`, a budget of a memgov.Gpu of that
    device. Use as a context manager. UnsupportedError when torch has no CUDA (or no MemPool for mode "mempool")."""
    return TorchBudget(budget, device, mode)


def limit(gov: Any, size: SizeLike, device: int = 0, mode: str = "auto", **gpu_options: Any) -> TorchBudget:
    """Opens CUDA device `device` for governor `gov` with a device budget capped at `size` ("20GiB", or bytes) and
    governs torch with it (use_budget); leaving the ``with`` block also closes the device. gpu_options go to
    memgov.Gpu (name, release_threshold, library, ...). UnsupportedError without a CUDA driver or CUDA torch."""
    if not _torch.cuda.is_available():
        raise UnsupportedError("memgov.torch.limit: this torch has no CUDA device (torch.cuda.is_available() is "
                               "False)")
    gpu = Gpu(gov, "cuda", device, limit=size, **gpu_options)
    try:
        return TorchBudget(gpu.budget, device, mode, _gpu=gpu)
    except BaseException:
        gpu.close()
        raise


#: The exceptions AdaptiveBatch treats as "this batch did not fit" (MemoryError, torch.cuda.OutOfMemoryError).
OUT_OF_MEMORY = out_of_memory_types()
