#!/usr/bin/python3
"""The kernels against numpy and pandas, same run, same machine: downcast (memcpy of the source bytes as the
bandwidth ceiling, numpy min/max + astype, pd.to_numeric(downcast=)), factorize (pd.factorize, astype('category'))
and statistics (numpy's separate min/max/mean/var calls). memgov is called through ctypes on libmemgov.so.
Prints one markdown table of medians and ratios, and the peak resident memory each downcast adds.

usage: /usr/bin/python3 bench/kernels_vs_pandas.py LIBMEMGOV.so [N] [--no-strings | --strings-only] [--rounds R]
"""
import ctypes as C
import subprocess
import sys
import time

import numpy as np
import pandas as pd

args = [a for a in sys.argv[1:] if not a.startswith('--')]
LIB = args[0]
N = int(float(args[1])) if len(args) > 1 else 10_000_000
STRINGS = '--no-strings' not in sys.argv
NUMERIC = '--strings-only' not in sys.argv
ROUNDS = int(sys.argv[sys.argv.index('--rounds') + 1]) if '--rounds' in sys.argv else 5
lib = C.CDLL(LIB)

INT8, INT64, FLOAT32, FLOAT64 = 1, 4, 10, 11


class Plan(C.Structure):
    _fields_ = [('struct_size', C.c_size_t), ('from_', C.c_int), ('to', C.c_int), ('count', C.c_uint64),
                ('nan_count', C.c_uint64), ('min', C.c_double), ('max', C.c_double), ('int_min', C.c_int64),
                ('int_max', C.c_int64), ('uint_min', C.c_uint64), ('uint_max', C.c_uint64),
                ('bytes_from', C.c_uint64), ('bytes_to', C.c_uint64), ('bytes_saved', C.c_uint64)]


class Summary(C.Structure):
    _fields_ = [('struct_size', C.c_size_t), ('count', C.c_uint64), ('nan_count', C.c_uint64)] + \
               [(f, C.c_double) for f in ('min', 'max', 'mean', 'var', 'var_sample', 'std', 'sum')]


lib.memgov_kernels_downcast.argtypes = [C.c_void_p, C.c_int, C.c_size_t, C.c_void_p, C.c_void_p, C.POINTER(Plan)]
lib.memgov_kernels_describe.argtypes = [C.c_void_p, C.c_int, C.c_size_t, C.POINTER(Summary)]
lib.memgov_kernels_factorize_utf8.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p, C.c_size_t, C.c_size_t,
                                              C.c_void_p, C.c_void_p, C.POINTER(C.c_void_p)]
lib.memgov_kernels_dict_destroy.argtypes = [C.c_void_p]
lib.memgov_kernels_dict_size.argtypes = [C.c_void_p]
lib.memgov_kernels_dict_size.restype = C.c_size_t
lib.memgov_default.restype = C.c_void_p
lib.memgov_root.argtypes = [C.c_void_p]
lib.memgov_root.restype = C.c_void_p
lib.memgov_kernels_isa.restype = C.c_char_p
lib.memgov_last_error.restype = C.c_char_p


def ok(st):
    if st != 0:
        raise RuntimeError(lib.memgov_last_error().decode())


def median_time(fn, rounds=ROUNDS, setup=None):
    ts = []
    for _ in range(rounds):
        arg = setup() if setup else None
        t = time.perf_counter()
        fn(arg) if setup else fn()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


rows = []


def row(group, name, seconds, ref=None, note=''):
    rows.append((group, name, seconds, ref, note))


def mg_downcast(src, dst):
    p = Plan(struct_size=C.sizeof(Plan))
    ok(lib.memgov_kernels_downcast(src.ctypes.data, INT64 if src.dtype == np.int64 else FLOAT64, src.size,
                                   dst.ctypes.data, None, C.byref(p)))
    return p


def downcast_group(label, src, pandas_kind, target):
    dst = np.empty_like(src)
    t_memcpy = median_time(lambda: C.memmove(dst.ctypes.data, src.ctypes.data, src.nbytes))
    t_fused = median_time(lambda: mg_downcast(src, dst))
    assert mg_downcast(src, dst).to == (INT8 if target == np.int8 else FLOAT32)
    t_inplace = median_time(lambda a: mg_downcast(a, a), setup=lambda: src.copy())

    def numpy_way():
        lo, hi = src.min(), src.max()
        info = np.iinfo(target) if target == np.int8 else np.finfo(target)
        assert info.min <= lo and hi <= info.max
        return src.astype(target)
    t_numpy = median_time(numpy_way)
    s = pd.Series(src, copy=False)
    t_pandas = median_time(lambda: pd.to_numeric(s, downcast=pandas_kind))
    assert pd.to_numeric(s, downcast=pandas_kind).dtype == target
    g = f'{label}, {src.size:,} elements ({src.nbytes / 1e6:.0f} MB source)'
    row(g, 'memcpy of the source bytes (ceiling)', t_memcpy)
    row(g, 'memgov fused downcast (out of place)', t_fused, None,
        f'{t_memcpy / t_fused:.2f}x memcpy bandwidth; {t_pandas / t_fused:.1f}x faster than pd.to_numeric')
    row(g, 'memgov fused downcast in place', t_inplace, None,
        f'{t_memcpy / t_inplace:.2f}x memcpy bandwidth; {t_pandas / t_inplace:.1f}x faster than pd.to_numeric')
    row(g, 'numpy: min(), max(), astype()', t_numpy, t_fused)
    row(g, f"pandas: pd.to_numeric(downcast='{pandas_kind}')", t_pandas, t_fused)


def factorize_group(n, distinct):
    rng = np.random.default_rng(distinct)
    keys = np.array([b'key%07d' % i for i in range(distinct)], dtype='S10')
    fixed = keys[rng.integers(0, distinct, n)]
    data = fixed.tobytes()
    offsets = np.arange(0, 10 * (n + 1), 10, dtype=np.int32)
    budget = lib.memgov_root(lib.memgov_default())
    out = C.c_void_p()

    def mg():
        ok(lib.memgov_kernels_factorize_utf8(budget, offsets.ctypes.data, data, len(data), n, None, None,
                                             C.byref(out)))
        size = lib.memgov_kernels_dict_size(out)
        lib.memgov_kernels_dict_destroy(out)
        return size
    t_mg = median_time(mg, rounds=min(ROUNDS, 3))
    objs = fixed.astype('U10').astype(object)  # one str object per element, as a loaded column has
    assert mg() == len(pd.factorize(objs)[1])
    t_pd = median_time(lambda: pd.factorize(objs), rounds=min(ROUNDS, 3))
    series = pd.Series(objs, copy=False)
    t_cat = median_time(lambda: series.astype('category'), rounds=min(ROUNDS, 3))
    g = f'factorize {n:,} strings (10 bytes each), {distinct:,} distinct'
    row(g, 'memgov factorize (Arrow utf8 buffers, budget-charged)', t_mg, None,
        f'{t_pd / t_mg:.1f}x faster than pd.factorize')
    row(g, 'pandas: pd.factorize(object array)', t_pd, t_mg)
    row(g, "pandas: Series.astype('category')", t_cat, t_mg)


def stats_group(x):
    s = Summary(struct_size=C.sizeof(Summary))
    t_mg = median_time(lambda: ok(lib.memgov_kernels_describe(x.ctypes.data, FLOAT64, x.size, C.byref(s))))
    t_np = median_time(lambda: (x.min(), x.max(), x.mean(), x.var()))
    var_rel = abs(s.var - x.var()) / x.var()
    mean_rel = abs(s.mean - x.mean()) / np.abs(x).mean()  # the mean is ~0 here: relative to the values' size
    g = f'statistics of {x.size:,} float64'
    row(g, 'memgov describe (one pass: count, NaN, min, max, mean, var, sum)', t_mg, None,
        f'{t_np / t_mg:.1f}x faster than numpy; var within {var_rel:.0e} of numpy\'s, mean within '
        f'{mean_rel:.0e} of mean(|x|)')
    row(g, 'numpy: min(), max(), mean(), var()', t_np, t_mg)


def peak(kind):
    """Run in a child: the peak resident memory a downcast of a fresh, touched 10 M... column adds."""
    code = f'''
import importlib.util, numpy as np, pandas as pd, sys
sys.argv = ['x', {LIB!r}, '{N}']
spec = importlib.util.spec_from_file_location('kvp', {__file__!r})
kvp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kvp)
mg_downcast = kvp.mg_downcast
a = np.empty({N}, dtype=np.int64)
a.fill(77)  # touched, and no temporary raised the peak above what is live now
def status(key):
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key + ':'))
open('/proc/self/clear_refs', 'w').write('5')  # the peak (VmHWM) restarts from what is resident now
base = status('VmRSS')
if {kind!r} == 'memgov in place':
    mg_downcast(a, a)
elif {kind!r} == 'memgov out of place':
    mg_downcast(a, np.empty(a.size * 8, dtype=np.int8))  # room for the worst case; only the result is touched
elif {kind!r} == 'numpy astype':
    a.min(); a.max(); a.astype(np.int8)
else:
    pd.to_numeric(pd.Series(a, copy=False), downcast='integer')
print(status('VmHWM') - base)
'''
    out = subprocess.run(['/usr/bin/python3', '-c', code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


if __name__ == '__main__':
    rng = np.random.default_rng(7)
    if NUMERIC:
        ints = rng.integers(-128, 128, N, dtype=np.int64)
        downcast_group('int64 -> int8', ints, 'integer', np.int8)
        del ints
        floats = rng.standard_normal(N).astype(np.float32).astype(np.float64)
        downcast_group('float64 -> float32', floats, 'float', np.float32)
        stats_group(floats)
        del floats
    if STRINGS:
        factorize_group(N, 1000)
        factorize_group(N, 1_000_000)
    print(f'memgov {LIB}, kernel variant {lib.memgov_kernels_isa().decode()}, numpy {np.__version__}, '
          f'pandas {pd.__version__}, N = {N:,}, medians of {ROUNDS} runs (factorize: {min(ROUNDS, 3)})\n')
    print('| group | contender | median ms | memgov is faster by | note |')
    print('|---|---|---:|---:|---|')
    for g, name, t, ref, note in rows:
        ratio = f'{t / ref:.1f}x' if ref else ''
        print(f'| {g} | {name} | {t * 1e3:.1f} | {ratio} | {note} |')
    if NUMERIC:
        print(f'\npeak resident memory added by downcasting a touched int64 column of {N:,} '
              f'({N * 8 / 2**20:.0f} MiB) to int8, each in a fresh process:')
        for kind in ('memgov in place', 'memgov out of place', 'numpy astype', 'pandas to_numeric'):
            print(f'- {kind}: +{peak(kind) / 1024:.1f} MiB')
