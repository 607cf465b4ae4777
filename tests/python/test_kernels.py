"""memgov.kernels and memgov.pandas against numpy and pandas: downcast choices and values vs pd.to_numeric
(pandas' float rule is a 5e-4 absolute tolerance, which abs_tolerance expresses), describe within 1e-12 of numpy
(and of a long double reference where numpy itself is off), factorize vs pd.factorize, the budget's refusal."""
import numpy as np
import pandas as pd
import pytest

import memgov
import memgov.kernels as mk
import memgov.pandas as mpd

rng = np.random.default_rng(12)


INT_COLUMNS = [np.array(v, dtype=np.int64) for v in
               ([0, 127], [-128, 127], [0, 128], [-129], [0, 255], [0, 256], [0, 65535], [0, 65536], [-32769],
                [0, 2**31 - 1], [0, 2**32 - 1], [-2**63, 2**63 - 1], [5], list(range(-500, 500, 7)))] + \
              [rng.integers(-10**k, 10**k, 1000) for k in range(1, 12)] + \
              [rng.integers(0, 10**k, 1000) for k in range(1, 12)]


@pytest.mark.parametrize("a", INT_COLUMNS, ids=lambda a: f"{a.min()}..{a.max()}")
def test_integer_downcast_equals_to_numeric(a):
    want = pd.to_numeric(pd.Series(a), downcast="integer").to_numpy()
    got = mk.downcast(a)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert a.dtype == np.int64  # not in place: the source is untouched
    if a.min() >= 0:
        assert mk.downcast(a, unsigned=True).dtype.itemsize == \
            pd.to_numeric(pd.Series(a), downcast="unsigned").dtype.itemsize


FLOAT_COLUMNS = [np.array(v, dtype=np.float64) for v in
                 ([0.1], [1e300], [1.0, 2.0], [1.5, np.nan], [16777217.0], [1e-40], [np.inf, -np.inf, 3.0],
                  [np.inf, -0.0], [1e5 + 0.1])] + \
                [rng.standard_normal(1000) * 10**k for k in range(-3, 8)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # pandas' own cast of 1e300 to float32 overflows
@pytest.mark.parametrize("a", FLOAT_COLUMNS, ids=lambda a: f"{a[0]:.3g}")
def test_float_downcast_is_exact_by_default_and_pandas_like_with_its_tolerance(a):
    exact = mk.downcast(a)
    assert np.array_equal(exact.astype(np.float64), a, equal_nan=True)
    want = pd.to_numeric(pd.Series(a), downcast="float").to_numpy()
    got = mk.downcast(a, abs_tolerance=5e-4)
    assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("a", [np.array([1.0, 2.0, -3.0]), np.array([0.0, 200.0]), np.array([1e5]),
                               np.array([2.0**40]), np.array([0.5, 1.0])])
def test_float_to_integer_is_never_wider_than_to_numeric(a):
    # pandas gives int64 for 2**40 and keeps [0.5, 1.0] float64; the plan keeps an exact float32 there
    want = pd.to_numeric(pd.Series(a), downcast="integer")
    got = mk.downcast(a, float_to_int=True)
    assert got.dtype.itemsize <= want.dtype.itemsize
    assert np.array_equal(got.astype(np.float64), a)


def test_in_place_downcast_reuses_the_buffer():
    a = (np.arange(100_000, dtype=np.int64) % 30_000) - 15_000
    expect = a.copy()
    address = a.ctypes.data
    b = mk.downcast(a, inplace=True)
    assert b.dtype == np.int16 and b.ctypes.data == address
    assert np.array_equal(b, expect)
    m = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert mk.downcast(m, inplace=True).shape == (3, 4)
    with pytest.raises(ValueError):
        mk.downcast(np.arange(10)[::2], inplace=True)
    with pytest.raises(TypeError):
        mk.downcast(np.array(["a"]))


def test_plan_reports_what_it_found():
    r = mk.plan_downcast(np.array([1.0, np.nan, -3.0]), float_to_int=True)
    assert r.to_dtype == np.float32 and r.nan_count == 1 and r.min == -3.0 and r.max == 1.0
    r = mk.plan_downcast(np.array([1.0, 2.0, -3.0]), float_to_int=True)
    assert r.to_dtype == np.int8 and r.bytes_saved == 21


@pytest.mark.parametrize("sort", [False, True])
@pytest.mark.parametrize("distinct", [1, 3, 128, 300, 5000])
def test_factorize_equals_pd_factorize(sort, distinct):
    values = np.array([None if rng.random() < 0.05 else f"k{rng.integers(distinct)}é" for _ in range(20_000)] +
                      [f"k{i}é" for i in range(distinct)], dtype=object)
    values[3] = np.nan
    codes, uniques = mk.factorize(values, sort=sort)
    want_codes, want_uniques = pd.factorize(values, sort=sort)
    assert np.array_equal(codes.astype(np.int64), want_codes)
    assert list(uniques) == list(want_uniques)
    assert codes.dtype == (np.int8 if distinct <= 128 else np.int16)
    s_codes, s_uniques = mk.factorize(pd.Series(values), sort=sort)
    assert np.array_equal(s_codes, codes) and list(s_uniques) == list(uniques)


def test_factorize_str_bytes_and_int_arrays():
    u = np.array(["b", "a", "b", ""])
    codes, uniques = mk.factorize(u)
    assert codes.tolist() == [0, 1, 0, 2] and uniques.tolist() == ["b", "a", ""]
    codes, uniques = mk.factorize(np.array([b"x", b"y", b"x"]), sort=True)
    assert codes.tolist() == [0, 1, 0] and uniques.tolist() == [b"x", b"y"]
    i = rng.integers(-5, 5, 1000)
    codes, uniques = mk.factorize(i, sort=True)
    want_codes, want_uniques = pd.factorize(i, sort=True)
    assert np.array_equal(codes, want_codes) and np.array_equal(uniques, want_uniques)
    with pytest.raises(TypeError):
        mk.factorize(np.array([1.5, 2.5]))


def test_factorize_inside_a_small_budget_refuses_and_leaves_nothing(gov):
    b = gov.budget("small", hard=4096)
    values = np.array([f"value-{i}" for i in range(50_000)], dtype=object)
    with pytest.raises(MemoryError) as e:
        mk.factorize(values, budget=b)
    assert "small" in str(e.value)
    assert b.stats().used == 0
    b.set_limits(hard="64MiB")
    codes, uniques = mk.factorize(values, budget=b)
    assert len(uniques) == 50_000 and b.stats().used == 0  # results copied out, dictionary freed
    b.destroy()


STATS_COLUMNS = [rng.standard_normal(100_003) + 3.0, rng.integers(-1000, 5000, 77_777),
                 rng.random(12_345).astype(np.float32) + 1, rng.integers(0, 2, 1000).astype(bool), np.array([7.0]),
                 rng.exponential(5.0, 1_000_000)]


@pytest.mark.parametrize("a", STATS_COLUMNS, ids=lambda a: f"{a.dtype}-{a.size}")
def test_describe_matches_numpy_within_1e_12(a):
    s = mk.describe(a)
    x = a.astype(np.float64)
    assert s.count == a.size and s.min == x.min() and s.max == x.max()
    for got, want in ((s.mean, x.mean()), (s.var, x.var()), (s.std, x.std()), (s.sum, x.sum())):
        assert abs(got - want) <= 1e-12 * abs(want), (got, want)
    if a.size > 1:
        assert abs(s.var_sample - x.var(ddof=1)) <= 1e-12 * x.var(ddof=1)


def test_describe_of_data_far_from_zero_beats_numpy():
    # 1e9 + noise of 1e-3: numpy's var is off by ~1e-8 relative (its mean carries the error of summing 1e9s);
    # the kernels fold x - (first value) and stay within 1e-12 of a long double two-pass reference
    x = rng.standard_normal(100_000) * 1e-3 + 1e9
    s = mk.describe(x)
    xl = x.astype(np.longdouble)
    mean = xl.mean()
    var = float(((xl - mean) ** 2).mean())
    assert abs(s.var - var) <= 1e-12 * var
    assert abs(s.mean - float(mean)) <= 1e-15 * float(mean)
    assert abs(x.var() - var) > abs(s.var - var)


def test_describe_counts_nan_like_numpy_nan_functions():
    x = rng.standard_normal(10_000) + 1
    x[::7] = np.nan
    s = mk.describe(x)
    assert s.nan_count == np.isnan(x).sum()
    assert abs(s.mean - np.nanmean(x)) <= 1e-12 * abs(np.nanmean(x))
    assert abs(s.var - np.nanvar(x)) <= 1e-12 * np.nanvar(x)
    assert s.min == np.nanmin(x) and s.max == np.nanmax(x)


def test_accumulator_merges_chunks():
    x = rng.standard_normal(10_000)
    x[::10] = np.nan
    parts = [mk.Accumulator().add(c) for c in np.array_split(x, 7)]
    total = parts[0]
    for p in parts[1:]:
        total.merge(p)
    s = total.result()
    assert s.nan_count == 1000 and s.count == 9000
    assert abs(s.var - np.nanvar(x)) <= 1e-12 * np.nanvar(x)
    assert abs(s.mean - np.nanmean(x)) <= 1e-12 * np.nanmean(np.abs(x))


def test_pandas_downcast_returns_the_frame_and_a_report():
    df = pd.DataFrame({"id": np.arange(1000, dtype=np.int64), "small": np.ones(1000, dtype=np.int64),
                       "f": np.linspace(0, 1, 1000).astype(np.float32).astype(np.float64),
                       "g": np.linspace(0, 1, 1000), "name": ["x"] * 1000, "flag": np.ones(1000, dtype=bool)})
    before = df.memory_usage(deep=True).sum()
    new, report = mpd.downcast(df)
    assert df["id"].dtype == np.int64  # not in place
    assert dict(new.dtypes.astype(str)) == {"id": "int16", "small": "int8", "f": "float32", "g": "float64",
                                            "name": "object", "flag": "bool"}
    for c in df.columns:
        assert (new[c].to_numpy() == df[c].to_numpy()).all()
    rep = report.set_index("column")
    assert rep.loc["id", "from"] == "int64" and rep.loc["id", "to"] == "int16"
    assert rep.loc["id", "bytes_saved"] == 6000 and "name" not in rep.index
    assert before - new.memory_usage(deep=True).sum() == report["bytes_saved"].sum()
    same, _ = mpd.downcast(df, inplace=True, columns=["small"])
    assert same is df and df["small"].dtype == np.int8 and df["id"].dtype == np.int64


def test_submodules_load_from_the_package():
    assert memgov.kernels.isa() in ("scalar", "avx2", "avx512")
    assert memgov.pandas.downcast is mpd.downcast
