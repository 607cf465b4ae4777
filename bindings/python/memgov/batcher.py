"""The AIMD batch-size controller (memgov_batcher, memgov/chunk.h) and the training-loop helper built on it.

``Batcher`` is the C controller: ``next`` is the size to try, ``success(size)`` grows it (doubling back to the
last size that fitted, then small steps towards the lowest size refused), ``refused(size)`` halves it.
``AdaptiveBatch`` runs a step function with that size, halves the batch on an out-of-memory error and retries at
once, and grows it again as steps succeed: the "halve the batch and restart" that people do by hand after
"CUDA out of memory". docs/gpu.md and docs/python.md.
"""
from __future__ import annotations

import ctypes
import dataclasses
import sys
from typing import Any, Callable, Optional, Tuple, Type

from . import _lib
from ._lib import LIB
from .errors import check


@dataclasses.dataclass(frozen=True)
class BatcherStats:
    """The controller's state (memgov_batcher_stats): the next size, its bounds and step, the remembered ceiling
    (lowest size refused; 0 = none) and last good size (0 = none), and the counts of reports."""
    next: int
    min: int
    max: int
    step: int
    ceiling: int
    last_good: int
    successes: int
    refusals: int
    history_kept: int


class Batcher:
    """memgov_batcher: sizes from min to max (items per batch); initial: the first size (default min: a cautious
    start that doubles until the first refusal); step: the additive increase (default max / 64)."""

    def __init__(self, max: int, min: int = 1, initial: Optional[int] = None, step: Optional[int] = None) -> None:
        opts = _lib.BatcherOptions.new()
        LIB.memgov_batcher_options_init(ctypes.byref(opts))
        opts.min, opts.max = int(min), int(max)
        opts.initial = 0 if initial is None else int(initial)
        opts.step = 0 if step is None else int(step)
        out = ctypes.c_void_p()
        check(LIB.memgov_batcher_create(ctypes.byref(opts), ctypes.byref(out)))
        self._h = out.value
        self._free = LIB.memgov_batcher_destroy

    @property
    def next(self) -> int:
        """The size to try next."""
        return int(LIB.memgov_batcher_next(self._h))

    def success(self, size: int) -> None:
        """Reports that a batch of `size` fitted."""
        check(LIB.memgov_batcher_success(self._h, int(size)))

    def refused(self, size: int) -> bool:
        """Reports that a batch of `size` was refused memory. False when `size` was already the floor (nothing
        smaller to try), True when the next size is smaller."""
        return LIB.memgov_batcher_refused(self._h, int(size)) == 0

    def stats(self) -> BatcherStats:
        """The controller's state."""
        out = _lib.BatcherStats.new()
        check(LIB.memgov_batcher_get_stats(self._h, ctypes.byref(out)))
        return BatcherStats(**{f.name: int(getattr(out, f.name)) for f in dataclasses.fields(BatcherStats)})

    def __del__(self) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h:
            self._free(h)


def out_of_memory_types() -> Tuple[Type[BaseException], ...]:
    """The exceptions that mean "this batch did not fit": MemoryError (memgov's refusals, numpy's) and, when torch
    is imported, torch.cuda.OutOfMemoryError. torch is never imported here."""
    torch = sys.modules.get("torch")
    cuda_oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    return (MemoryError,) if cuda_oom is None else (MemoryError, cuda_oom)


def _empty_torch_cache() -> None:
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is not None and cuda.is_available():
        cuda.empty_cache()


class AdaptiveBatch:
    """Runs training (or inference) steps with a batch size that halves on out-of-memory and grows back.

    ``step(batch_size, *args, **kw)`` does one step with that many items. ``run(step, ...)`` calls it with the
    controller's size; when it raises an out-of-memory error (memgov's GpuOutOfMemoryError or any MemoryError,
    torch.cuda.OutOfMemoryError), PyTorch's cache is emptied (when torch has CUDA), the size is halved and the step
    is retried at once with the smaller batch, until it fits; at the floor (min) the error is raised. A success
    lets the size grow back (AIMD: see Batcher). ``on_oom(exc, size)`` may observe each out-of-memory error.
    ``sync`` (e.g. a memgov.torch.TorchBudget) has its sync() called after each successful step, so that reserved
    device bytes are mirrored into the budget; when that sync is refused, the step (which ran) counts as refused
    and the next batch is smaller. Returns the step's result; ``last_size`` is the size it ran with.
    """

    def __init__(self, max: int, min: int = 1, initial: Optional[int] = None, step: Optional[int] = None,
                 sync: Any = None, on_oom: Optional[Callable[[BaseException, int], None]] = None) -> None:
        self.batcher = Batcher(max=max, min=min, initial=max if initial is None else initial, step=step)
        self.sync = sync
        self.on_oom = on_oom
        self.last_size = 0
        self.ooms = 0

    @property
    def size(self) -> int:
        """The batch size the next step will get."""
        return self.batcher.next

    def run(self, step: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """One step, with as many halvings as it takes (see the class)."""
        oom = out_of_memory_types()
        while True:
            size = self.batcher.next
            try:
                result = step(size, *args, **kw)
            except oom as e:
                self.ooms += 1
                if self.on_oom is not None:
                    self.on_oom(e, size)
                _empty_torch_cache()
                if not self.batcher.refused(size):
                    raise
                continue
            self.last_size = size
            try:
                if self.sync is not None:
                    self.sync.sync()
            except oom as e:  # the step ran, but what it left reserved does not fit: the next batch is smaller
                self.ooms += 1
                if self.on_oom is not None:
                    self.on_oom(e, size)
                self.batcher.refused(size)
                return result
            self.batcher.success(size)
            return result

    def stats(self) -> BatcherStats:
        """The controller's state."""
        return self.batcher.stats()
