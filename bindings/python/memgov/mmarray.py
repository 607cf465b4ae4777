"""memgov.mmarray — named, persistent numpy arrays in .npy files mapped by memgov (memgov/memmap.h).

``create`` and ``open`` return plain numpy arrays over memgov's mapping of the file; ``numpy.load(path,
mmap_mode="r")`` reads the same files, and ``open`` reads what ``numpy.save`` wrote (dtypes int8..int64,
uint8..uint64, float16/32/64, bool; little-endian; C order)::

    import numpy as np, memgov
    a = memgov.mmarray.create("/data/x.npy", (1000, 1000), "float32", budget=gov.root)
    a[:] = 1.0
    memgov.mmarray.flush(a)        # msync: the file holds the values
    del a                          # the last view gone: unmapped, the budget's charge released

The mapping lives as long as any array that views it (its ``.base`` chain leads to it); the budget, when given,
is charged the mapping's length until then. Errors raise memgov's exceptions (ParseError for a file that is not
a valid .npy, UnsupportedError for a valid one memgov cannot map, ExistsError, NotFoundError, NoSpaceError,
BudgetExceededError). Thread safety: as numpy arrays; flush from any thread.
"""
from __future__ import annotations

import ctypes
import os
import weakref
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import _lib
from ._lib import LIB
from .errors import InvalidArgumentError, UnsupportedError, check

__all__ = ["create", "open", "flush", "path_of"]

PathLike = Union[str, "os.PathLike[str]"]
_NAMES = {v: k for k, v in _lib.DTYPES.items()}


class _Mapping:
    """Owns one memgov_mmarray handle and exposes it through ``__array_interface__``; closed (unmapped, charge
    released) when the last array viewing it is collected."""

    def __init__(self, handle: int, budget: Any) -> None:
        self._h = handle
        self._budget = budget  # the Budget (Python object) must outlive the charge
        self._finalizer = weakref.finalize(self, LIB.memgov_mmarray_close, handle)
        # not at interpreter exit: an array still referenced then (a module global) must stay readable while
        # the interpreter tears down; the process's exit unmaps it
        self._finalizer.atexit = False
        ndim = LIB.memgov_mmarray_ndim(handle)
        shape_p = LIB.memgov_mmarray_shape(handle)
        shape = tuple(int(shape_p[i]) for i in range(ndim))
        dtype = np.dtype(_NAMES[LIB.memgov_mmarray_dtype(handle)]).newbyteorder("<")
        writable = bool(LIB.memgov_mmarray_writable(handle))
        self.path = _lib.text(LIB.memgov_mmarray_path(handle))
        self.__array_interface__ = {"version": 3, "shape": shape, "typestr": dtype.str,
                                    "data": (LIB.memgov_mmarray_data(handle) or 0, not writable)}

    def flush(self) -> None:
        check(LIB.memgov_mmarray_flush(self._h))


def _options(budget: Any, flags: int, file_mode: int = 0) -> _lib.MmarrayOptions:
    o = _lib.MmarrayOptions.new()
    LIB.memgov_mmarray_options_init(ctypes.byref(o))
    o.flags = flags
    o.file_mode = file_mode
    o.budget = budget.handle if budget is not None else None
    return o


def _array(handle: int, budget: Any) -> np.ndarray:
    return np.asarray(_Mapping(handle, budget))


def create(path: PathLike, shape: Union[int, Sequence[int]], dtype: Any = "float64", budget: Any = None,
           overwrite: bool = False, file_mode: int = 0o644) -> np.ndarray:
    """Creates a zero-filled .npy file of `shape` and `dtype` at `path` and returns a writable array over its
    mapping. budget: a memgov.Budget charged the mapping's length while the array lives. overwrite: replace an
    existing file (atomically); without it an existing file raises ExistsError. The file appears complete or not
    at all (memgov_mmarray_create)."""
    dt = np.dtype(dtype)
    if dt.byteorder == ">" or dt.name not in _lib.DTYPES:
        raise UnsupportedError(f"memgov.mmarray: dtype {dt.str} is not one memgov maps (little-endian int8..int64, "
                               "uint8..uint64, float16, float32, float64, bool)")
    dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    if any(n < 0 for n in dims):
        raise InvalidArgumentError(f"memgov.mmarray: negative extent in shape {dims}")
    c_shape = (ctypes.c_uint64 * max(len(dims), 1))(*dims)
    o = _options(budget, _lib.MMARRAY_OVERWRITE if overwrite else 0, file_mode)
    h = ctypes.c_void_p()
    check(LIB.memgov_mmarray_create(os.fsencode(path), _lib.DTYPES[dt.name], len(dims), c_shape, ctypes.byref(o),
                                    ctypes.byref(h)))
    return _array(h.value or 0, budget)


def open(path: PathLike, mode: str = "r", budget: Any = None) -> np.ndarray:  # noqa: A001 - numpy's word
    """Opens the .npy file at `path` as an array over memgov's mapping: mode "r" read-only (the array is not
    writable), "r+" read-write (writes reach the file). Hostile or truncated files raise ParseError naming the
    problem (memgov_mmarray_open)."""
    if mode not in ("r", "r+"):
        raise InvalidArgumentError(f"memgov.mmarray.open: mode {mode!r} is not 'r' or 'r+'")
    o = _options(budget, _lib.MMARRAY_WRITE if mode == "r+" else 0)
    h = ctypes.c_void_p()
    check(LIB.memgov_mmarray_open(os.fsencode(path), ctypes.byref(o), ctypes.byref(h)))
    return _array(h.value or 0, budget)


def _mapping_of(array: np.ndarray) -> _Mapping:
    base: Optional[Any] = array
    while base is not None:
        if isinstance(base, _Mapping):
            return base
        base = getattr(base, "base", None)
    raise InvalidArgumentError("memgov.mmarray: the array is not a view of a memgov mapped array")


def flush(array: np.ndarray) -> None:
    """Writes the array's file back and waits (msync); `array` is one that create/open returned or a view of
    it. MemgovIOError on failure."""
    _mapping_of(array).flush()


def path_of(array: np.ndarray) -> str:
    """The file behind a mapped array (or a view of one)."""
    return _mapping_of(array).path
