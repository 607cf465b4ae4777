#!/usr/bin/python3
"""The kernels from Python through ctypes, checked against numpy and pandas (pytest; Debian's python3):
describe within 1e-12 relative of numpy, downcast choices against pd.to_numeric(downcast=) (pandas' float rule is
a 5e-4 absolute tolerance, which the options express), values equal to pandas' results, factorize equal to
pd.factorize (first appearance and sorted, nulls -1).

usage: MEMGOV_LIBRARY=path/libmemgov.so /usr/bin/python3 -m pytest -q tests/ffi/test_kernels_pandas.py
"""
import ctypes as C
import os

import numpy as np
import pandas as pd
import pytest

lib = C.CDLL(os.environ['MEMGOV_LIBRARY'])
DTYPES = {np.dtype(n): i for i, n in enumerate(
    ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float16', 'float32', 'float64',
     'bool'], start=1)}
NAMES = {i: d for d, i in DTYPES.items()}
UNSIGNED, FLOAT_TO_INT = 1, 2


class Plan(C.Structure):
    _fields_ = [('struct_size', C.c_size_t), ('from_', C.c_int), ('to', C.c_int), ('count', C.c_uint64),
                ('nan_count', C.c_uint64), ('min', C.c_double), ('max', C.c_double), ('int_min', C.c_int64),
                ('int_max', C.c_int64), ('uint_min', C.c_uint64), ('uint_max', C.c_uint64),
                ('bytes_from', C.c_uint64), ('bytes_to', C.c_uint64), ('bytes_saved', C.c_uint64)]


class Options(C.Structure):
    _fields_ = [('struct_size', C.c_size_t), ('flags', C.c_uint32), ('abs_tolerance', C.c_double),
                ('rel_tolerance', C.c_double)]


class Summary(C.Structure):
    _fields_ = [('struct_size', C.c_size_t), ('count', C.c_uint64), ('nan_count', C.c_uint64)] + \
               [(f, C.c_double) for f in ('min', 'max', 'mean', 'var', 'var_sample', 'std', 'sum')]


lib.memgov_kernels_plan_downcast.argtypes = [C.c_void_p, C.c_int, C.c_size_t, C.POINTER(Options), C.POINTER(Plan)]
lib.memgov_kernels_apply_downcast.argtypes = [C.c_void_p, C.c_int, C.c_size_t, C.c_void_p, C.c_int,
                                              C.POINTER(Options), C.POINTER(C.c_size_t)]
lib.memgov_kernels_describe.argtypes = [C.c_void_p, C.c_int, C.c_size_t, C.POINTER(Summary)]
lib.memgov_kernels_factorize_strings.argtypes = [C.c_void_p, C.POINTER(C.c_char_p), C.POINTER(C.c_size_t),
                                                 C.c_size_t, C.c_void_p, C.c_void_p, C.POINTER(C.c_void_p)]
lib.memgov_kernels_factorize_options_init.argtypes = [C.c_void_p]
lib.memgov_kernels_dict_codes.argtypes = [C.c_void_p, C.POINTER(C.c_int), C.POINTER(C.c_size_t)]
lib.memgov_kernels_dict_codes.restype = C.c_void_p
lib.memgov_kernels_dict_size.argtypes = [C.c_void_p]
lib.memgov_kernels_dict_size.restype = C.c_size_t
lib.memgov_kernels_dict_string.argtypes = [C.c_void_p, C.c_size_t, C.POINTER(C.c_size_t)]
lib.memgov_kernels_dict_string.restype = C.c_void_p
lib.memgov_kernels_dict_destroy.argtypes = [C.c_void_p]
lib.memgov_default.restype = C.c_void_p
lib.memgov_root.argtypes = [C.c_void_p]
lib.memgov_root.restype = C.c_void_p
lib.memgov_last_error.restype = C.c_char_p


def check(st):
    assert st == 0, lib.memgov_last_error().decode()


def options(flags=0, abs_tol=0.0, rel_tol=0.0):
    return Options(C.sizeof(Options), flags, abs_tol, rel_tol)


def plan(a, opts):
    a = np.ascontiguousarray(a)
    p = Plan(struct_size=C.sizeof(Plan))
    check(lib.memgov_kernels_plan_downcast(a.ctypes.data, DTYPES[a.dtype], a.size, C.byref(opts), C.byref(p)))
    return p


def downcast(a, opts):
    p = plan(a, opts)
    out = np.empty(a.size, dtype=NAMES[p.to])
    check(lib.memgov_kernels_apply_downcast(a.ctypes.data, DTYPES[a.dtype], a.size, out.ctypes.data, p.to,
                                            C.byref(opts), None))
    return out


rng = np.random.default_rng(2026)
INT_COLUMNS = [np.array(v, dtype=np.int64) for v in
               ([0, 127], [-128, 127], [0, 128], [-129], [0, 255], [0, 256], [0, 65535], [-32769],
                [0, 2**31 - 1], [0, 2**32 - 1], [-2**63, 2**63 - 1], [5])] + \
              [rng.integers(-10**k, 10**k, 1000) for k in range(1, 12)] + \
              [rng.integers(0, 10**k, 1000) for k in range(1, 12)]


@pytest.mark.parametrize('a', INT_COLUMNS, ids=lambda a: f'{a.min()}..{a.max()}')
def test_integer_downcast_matches_to_numeric(a):
    want = pd.to_numeric(pd.Series(a), downcast='integer')
    got = downcast(a, options())
    assert got.dtype == want.dtype
    assert np.array_equal(got, want.to_numpy())
    if a.min() >= 0:  # pandas' 'unsigned' picks the narrowest unsigned; ours the same width, signed on a tie
        assert downcast(a, options(UNSIGNED)).dtype.itemsize == \
            pd.to_numeric(pd.Series(a), downcast='unsigned').dtype.itemsize


FLOAT_COLUMNS = [np.array(v, dtype=np.float64) for v in
                 ([0.1], [1e300], [1.0, 2.0], [np.nan, 1.5], [16777217.0], [1e-40], [np.inf, -np.inf, 3.0],
                  [1e5 + 0.1], [-0.0, 0.5])] + \
                [rng.standard_normal(1000) * 10**k for k in range(-3, 8)]


@pytest.mark.parametrize('a', FLOAT_COLUMNS, ids=lambda a: f'{a[0]:.3g}')
def test_float_downcast_with_pandas_tolerance_matches_to_numeric(a):
    want = pd.to_numeric(pd.Series(a), downcast='float')
    got = downcast(a, options(abs_tol=5e-4))  # pandas: np.allclose(rtol=0, atol=5e-4) for float32
    assert got.dtype == want.dtype
    assert np.array_equal(got, want.to_numpy(), equal_nan=True)
    exact = downcast(a, options())  # the default is exact: a float32 result always widens back unchanged
    assert np.array_equal(exact.astype(np.float64), a, equal_nan=True)


@pytest.mark.parametrize('a', [np.array([1.0, 2.0, -3.0]), np.array([0.0, 200.0]), np.array([1e5]),
                               np.array([2.0**40]), np.array([0.5, 1.0])])
def test_float_to_integer_is_never_wider_than_to_numeric(a):
    # pandas gives int64 for 2**40 and keeps [0.5, 1.0] float64; the plan keeps an exact float32 there
    want = pd.to_numeric(pd.Series(a), downcast='integer')
    got = downcast(a, options(FLOAT_TO_INT))
    assert got.dtype.itemsize <= want.dtype.itemsize
    assert np.array_equal(got.astype(np.float64), a)


STATS_COLUMNS = [rng.standard_normal(100_003) + 3.0, rng.integers(-1000, 5000, 77_777),
                 rng.random(12_345).astype(np.float32) + 1, rng.integers(0, 2, 1000).astype(bool), np.array([7.0]),
                 rng.exponential(5.0, 1_000_000)]


@pytest.mark.parametrize('a', STATS_COLUMNS, ids=lambda a: f'{a.dtype}-{a.size}')
def test_describe_matches_numpy_within_1e_12(a):
    s = Summary(struct_size=C.sizeof(Summary))
    check(lib.memgov_kernels_describe(a.ctypes.data, DTYPES[a.dtype], a.size, C.byref(s)))
    x = a.astype(np.float64)
    assert s.count == a.size and s.nan_count == 0
    assert s.min == x.min() and s.max == x.max()
    for got, want in ((s.mean, x.mean()), (s.var, x.var()), (s.std, x.std()), (s.sum, x.sum())):
        assert abs(got - want) <= 1e-12 * abs(want), (got, want)
    if a.size > 1:
        assert abs(s.var_sample - x.var(ddof=1)) <= 1e-12 * x.var(ddof=1)


def test_describe_of_data_far_from_zero_beats_numpy():
    # 1e9 + noise of 1e-3: numpy's var is off by ~1e-8 relative (its mean carries the error of summing 1e9s);
    # the kernels fold x - (first value) and stay within 1e-12 of a long double two-pass reference
    x = rng.standard_normal(100_000) * 1e-3 + 1e9
    s = Summary(struct_size=C.sizeof(Summary))
    check(lib.memgov_kernels_describe(x.ctypes.data, DTYPES[x.dtype], x.size, C.byref(s)))
    xl = x.astype(np.longdouble)
    mean = xl.mean()
    var = float(((xl - mean) ** 2).mean())
    assert abs(s.var - var) <= 1e-12 * var
    assert abs(s.mean - float(mean)) <= 1e-15 * float(mean)
    assert abs(x.var() - var) > abs(s.var - var)


def test_describe_counts_nan_like_numpy_nan_functions():
    x = rng.standard_normal(10_000) + 1
    x[::7] = np.nan
    s = Summary(struct_size=C.sizeof(Summary))
    check(lib.memgov_kernels_describe(x.ctypes.data, DTYPES[x.dtype], x.size, C.byref(s)))
    assert s.nan_count == np.isnan(x).sum()
    assert abs(s.mean - np.nanmean(x)) <= 1e-12 * abs(np.nanmean(x))
    assert abs(s.var - np.nanvar(x)) <= 1e-12 * np.nanvar(x)
    assert s.min == np.nanmin(x) and s.max == np.nanmax(x)


def factorize(values, sort):
    raw = [None if v is None else v.encode() for v in values]
    ptrs = (C.c_char_p * len(raw))(*raw)
    lens = (C.c_size_t * len(raw))(*[0 if v is None else len(v) for v in raw])
    opts = (C.c_char * 16)()
    lib.memgov_kernels_factorize_options_init(opts)
    if sort:
        C.memmove(C.addressof(opts) + 8, (C.c_uint32 * 1)(1), 4)
    d = C.c_void_p()
    check(lib.memgov_kernels_factorize_strings(lib.memgov_root(lib.memgov_default()), ptrs, lens, len(raw), None,
                                               opts, C.byref(d)))
    t, n = C.c_int(), C.c_size_t()
    addr = lib.memgov_kernels_dict_codes(d, C.byref(t), C.byref(n))
    codes = np.ctypeslib.as_array((C.c_byte * (n.value * np.dtype(NAMES[t.value]).itemsize)).from_address(addr))
    codes = codes.view(NAMES[t.value]).copy() if n.value else np.empty(0, dtype=np.int8)
    uniques = []
    for c in range(lib.memgov_kernels_dict_size(d)):
        length = C.c_size_t()
        p = lib.memgov_kernels_dict_string(d, c, C.byref(length))
        uniques.append(C.string_at(p, length.value).decode())
    lib.memgov_kernels_dict_destroy(d)
    return codes, uniques


@pytest.mark.parametrize('sort', [False, True])
@pytest.mark.parametrize('distinct', [1, 3, 200, 5000])
def test_factorize_matches_pd_factorize(sort, distinct):
    values = [None if rng.random() < 0.05 else f'v{rng.integers(distinct)}' for _ in range(20_000)] + ['']
    codes, uniques = factorize(values, sort)
    want_codes, want_uniques = pd.factorize(np.array(values, dtype=object), sort=sort)
    assert np.array_equal(codes.astype(np.int64), want_codes)
    assert uniques == list(want_uniques)
    width = 1 if len(uniques) <= 128 else 2 if len(uniques) <= 32768 else 4
    assert codes.dtype.itemsize == width
