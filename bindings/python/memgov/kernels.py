"""memgov.kernels — column kernels (experimental tier of the C library, docs/kernels.md).

``downcast(array)`` stores a numeric numpy array in the narrowest dtype that holds every value (exactly, or within
a float tolerance), in one pass at memory speed, optionally in place; ``plan_downcast(array)`` says what it would
do; ``factorize(values)`` dictionary-encodes strings or int64 values like ``pd.factorize`` with the hash table and
dictionary charged to a budget; ``describe(array)`` and ``Accumulator`` give count, NaN count, min, max, mean,
variance and sum in one pass, chunk by chunk and mergeable across threads.
"""
from __future__ import annotations

import ctypes
import dataclasses
import math
from typing import Any, Optional, Tuple

import numpy as np

from . import _lib
from ._lib import LIB
from .errors import check

_NUMPY = {v: k for k, v in _lib.DTYPES.items()}


def isa() -> str:
    """The kernel variant in use: "scalar", "avx2" or "avx512"."""
    return LIB.memgov_kernels_isa().decode()


@dataclasses.dataclass(frozen=True)
class DowncastReport:
    """What a downcast scan found: the dtypes, the element count, NaN count, min and max (None when there is no
    value other than NaN) and the bytes before, after and saved."""
    from_dtype: np.dtype
    to_dtype: np.dtype
    count: int
    nan_count: int
    min: Optional[float]
    max: Optional[float]
    bytes_from: int
    bytes_to: int
    bytes_saved: int


def _column(array: Any) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype.name not in _lib.DTYPES:
        raise TypeError(f"memgov.kernels: dtype {a.dtype} is not a numeric dtype the kernels know "
                        f"({', '.join(_lib.DTYPES)})")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _options(float_tolerance: Optional[float], abs_tolerance: Optional[float], unsigned: bool,
             float_to_int: bool, keep_float64: bool) -> "_lib.DowncastOptions":
    o = _lib.DowncastOptions.new()
    LIB.memgov_kernels_downcast_options_init(ctypes.byref(o))
    o.flags = (_lib.DOWNCAST_UNSIGNED if unsigned else 0) | (_lib.DOWNCAST_FLOAT_TO_INT if float_to_int else 0) | \
              (_lib.DOWNCAST_KEEP_FLOAT64 if keep_float64 else 0)
    o.rel_tolerance = float(float_tolerance or 0.0)
    o.abs_tolerance = float(abs_tolerance or 0.0)
    return o


def _report(p: "_lib.DowncastPlan") -> DowncastReport:
    none = p.count == p.nan_count
    return DowncastReport(np.dtype(_NUMPY[p.from_]), np.dtype(_NUMPY[p.to]), p.count, p.nan_count,
                          None if none else p.min, None if none else p.max, p.bytes_from, p.bytes_to,
                          p.bytes_saved)


def plan_downcast(array: Any, *, float_tolerance: Optional[float] = None, abs_tolerance: Optional[float] = None,
                  unsigned: bool = False, float_to_int: bool = False, keep_float64: bool = False) -> DowncastReport:
    """The narrowest dtype that holds every value of ``array`` and what the scan found (no conversion).
    Options as for downcast()."""
    a = np.ascontiguousarray(_column(array))
    o = _options(float_tolerance, abs_tolerance, unsigned, float_to_int, keep_float64)
    p = _lib.DowncastPlan.new()
    check(LIB.memgov_kernels_plan_downcast(a.ctypes.data, _lib.DTYPES[a.dtype.name], a.size, ctypes.byref(o),
                                           ctypes.byref(p)))
    return _report(p)


def downcast_with_report(array: Any, *, inplace: bool = False, float_tolerance: Optional[float] = None,
                         abs_tolerance: Optional[float] = None, unsigned: bool = False, float_to_int: bool = False,
                         keep_float64: bool = False) -> Tuple[np.ndarray, DowncastReport]:
    """downcast() and its DowncastReport."""
    a = _column(array)
    o = _options(float_tolerance, abs_tolerance, unsigned, float_to_int, keep_float64)
    p = _lib.DowncastPlan.new()
    code = _lib.DTYPES[a.dtype.name]
    if inplace:
        if not isinstance(array, np.ndarray) or a is not array or not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError("memgov.kernels.downcast(inplace=True) needs a writable, C-contiguous numpy array in "
                             "native byte order")
        check(LIB.memgov_kernels_downcast(a.ctypes.data, code, a.size, a.ctypes.data, ctypes.byref(o),
                                          ctypes.byref(p)))
        to = np.dtype(_NUMPY[p.to])
        flat = a.reshape(-1).view(np.uint8)[:a.size * to.itemsize]
        return flat.view(to).reshape(a.shape), _report(p)
    a = np.ascontiguousarray(a)
    check(LIB.memgov_kernels_plan_downcast(a.ctypes.data, code, a.size, ctypes.byref(o), ctypes.byref(p)))
    out = np.empty(a.shape, dtype=_NUMPY[p.to])
    check(LIB.memgov_kernels_apply_downcast(a.ctypes.data, code, a.size, out.ctypes.data, p.to, ctypes.byref(o),
                                            None))
    return out, _report(p)


def downcast(array: Any, inplace: bool = False, float_tolerance: Optional[float] = None, *,
             abs_tolerance: Optional[float] = None, unsigned: bool = False, float_to_int: bool = False,
             keep_float64: bool = False) -> np.ndarray:
    """``array`` in the narrowest dtype that holds every value (docs/kernels.md has the rules).

    Integers become the narrowest signed integer type (``unsigned=True`` also allows uint types for columns without
    negative values); float64 becomes float32 when every value round-trips exactly, or within ``float_tolerance``
    (relative) or ``abs_tolerance`` (absolute; pandas' to_numeric(downcast='float') rule is abs_tolerance=5e-4);
    ``float_to_int=True`` lets integral float columns without NaN become integers. NaN and +-inf are kept.

    inplace=False returns a new array (the source is read twice: plan, then convert). inplace=True converts in
    one pass inside the array's own buffer (no second buffer) and returns a view of that buffer in the new dtype;
    the argument must not be used afterwards (its bytes are the new array's). Raises TypeError for a dtype the
    kernels do not know, ValueError for inplace on an array that cannot be converted in place.
    """
    return downcast_with_report(array, inplace=inplace, float_tolerance=float_tolerance,
                                abs_tolerance=abs_tolerance, unsigned=unsigned, float_to_int=float_to_int,
                                keep_float64=keep_float64)[0]


# ---- factorize --------------------------------------------------------------------------------------------------

def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def _budget_handle(budget: Any) -> int:
    if budget is None:
        from .governor import default
        budget = default().root
    return budget.handle


def _take_codes(d: int) -> np.ndarray:
    t, n = ctypes.c_int(), ctypes.c_size_t()
    addr = LIB.memgov_kernels_dict_codes(d, ctypes.byref(t), ctypes.byref(n))
    dtype = np.dtype(_NUMPY[t.value])
    if n.value == 0:
        return np.empty(0, dtype=dtype)
    buf = (ctypes.c_char * (n.value * dtype.itemsize)).from_address(addr)
    return np.frombuffer(buf, dtype=dtype).copy()


def factorize(values: Any, sort: bool = False, budget: Any = None) -> Tuple[np.ndarray, np.ndarray]:
    """Dictionary encoding like ``pd.factorize(values, sort=sort)``: (codes, uniques). Codes are the narrowest
    signed integer type that holds them (int8 up to 128 distinct values, ...), -1 for nulls (None, NaN, pd.NA);
    uniques are in first-appearance order, or sorted (strings by their UTF-8 bytes).

    values: a numpy array of str ('U'), bytes ('S') or objects (str or bytes and nulls), a pandas Series of those,
    or an int64 array/Series. The hash table, dictionary and codes are allocated from ``budget`` (a memgov.Budget;
    default: the default governor's root) and raise memgov.BudgetExceededError (a MemoryError) when it refuses;
    nothing stays charged afterwards (the results are copied out into numpy arrays).
    """
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    a = np.asarray(values)
    handle = _budget_handle(budget)
    o = _lib.FactorizeOptions.new()
    LIB.memgov_kernels_factorize_options_init(ctypes.byref(o))
    o.flags = _lib.FACTORIZE_SORT if sort else 0
    d = ctypes.c_void_p()
    if a.dtype.kind in "iu" and a.dtype.itemsize <= 8 and not (a.dtype.kind == "u" and a.dtype.itemsize == 8):
        v = np.ascontiguousarray(a.reshape(-1), dtype=np.int64)
        check(LIB.memgov_kernels_factorize_int64(handle, v.ctypes.data, v.size, None, ctypes.byref(o),
                                                 ctypes.byref(d)))
        try:
            k = LIB.memgov_kernels_dict_size(d)
            base = LIB.memgov_kernels_dict_int64(d)
            uniques = np.ctypeslib.as_array((ctypes.c_int64 * k).from_address(base)).copy() if k else \
                np.empty(0, dtype=np.int64)
            return _take_codes(d.value), uniques.astype(a.dtype)
        finally:
            LIB.memgov_kernels_dict_destroy(d)
    flat = a.reshape(-1)
    as_bytes = a.dtype.kind == "S"
    if a.dtype.kind not in "USO":
        raise TypeError(f"memgov.kernels.factorize: dtype {a.dtype} is neither strings, objects nor integers")
    items = flat.tolist()
    valid = np.ones(len(items), dtype=bool)
    encoded = []
    for i, v in enumerate(items):
        if _is_null(v):
            valid[i] = False
            encoded.append(b"")
        elif isinstance(v, str):
            encoded.append(v.encode("utf-8", "surrogatepass"))
        elif isinstance(v, bytes):
            as_bytes = True
            encoded.append(v)
        else:
            raise TypeError(f"memgov.kernels.factorize: element {i} is a {type(v).__name__}, not str, bytes or null")
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(encoded)
    bitmap = np.packbits(valid, bitorder="little")
    check(LIB.memgov_kernels_factorize_large_utf8(handle, offsets.ctypes.data, data, len(data), len(encoded),
                                                  bitmap.ctypes.data, ctypes.byref(o), ctypes.byref(d)))
    try:
        k = LIB.memgov_kernels_dict_size(d)
        off = ctypes.POINTER(ctypes.c_int64)()
        base = ctypes.c_void_p()
        check(LIB.memgov_kernels_dict_strings(d, ctypes.byref(off), ctypes.byref(base)))
        ends = np.ctypeslib.as_array(off, shape=(k + 1,)).copy()
        blob = ctypes.string_at(base, int(ends[-1])) if k else b""
        uniques = np.empty(k, dtype=object)
        for c in range(k):
            piece = blob[ends[c]:ends[c + 1]]
            uniques[c] = piece if as_bytes else piece.decode("utf-8", "surrogatepass")
        return _take_codes(d.value), uniques
    finally:
        LIB.memgov_kernels_dict_destroy(d)


# ---- statistics -------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Summary:
    """One-pass statistics: count (values other than NaN), NaN count, min, max, mean, population variance (numpy's
    var), sample variance (ddof=1, pandas' var), std and the compensated sum. NaN where undefined."""
    count: int
    nan_count: int
    min: float
    max: float
    mean: float
    var: float
    var_sample: float
    std: float
    sum: float


def _summary(s: "_lib.KernelsSummary") -> Summary:
    return Summary(s.count, s.nan_count, s.min, s.max, s.mean, s.var, s.var_sample, s.std, s.sum)


class Accumulator:
    """Statistics fed chunk by chunk (``add``), merged across chunks or threads (``merge``, Chan's formula), read
    with ``result()``. One thread at a time per accumulator."""

    def __init__(self) -> None:
        self._acc = _lib.Accumulator()
        LIB.memgov_kernels_accumulator_init(ctypes.byref(self._acc))

    def add(self, array: Any) -> "Accumulator":
        a = np.ascontiguousarray(_column(array))
        check(LIB.memgov_kernels_accumulate(ctypes.byref(self._acc), a.ctypes.data, _lib.DTYPES[a.dtype.name],
                                            a.size))
        return self

    def merge(self, other: "Accumulator") -> "Accumulator":
        check(LIB.memgov_kernels_accumulator_merge(ctypes.byref(self._acc), ctypes.byref(other._acc)))
        return self

    def result(self) -> Summary:
        s = _lib.KernelsSummary.new()
        check(LIB.memgov_kernels_accumulator_result(ctypes.byref(self._acc), ctypes.byref(s)))
        return _summary(s)


def describe(array: Any) -> Summary:
    """Statistics of a numeric array in one pass (NaN counted apart, like numpy's nan* functions)."""
    a = np.ascontiguousarray(_column(array))
    s = _lib.KernelsSummary.new()
    check(LIB.memgov_kernels_describe(a.ctypes.data, _lib.DTYPES[a.dtype.name], a.size, ctypes.byref(s)))
    return _summary(s)


__all__ = ["Accumulator", "DowncastReport", "Summary", "describe", "downcast", "downcast_with_report",
           "factorize", "isa", "plan_downcast"]
