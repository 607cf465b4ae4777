"""memgov.kernels and memgov.pandas against numpy and pandas."""
import numpy as np
import pandas as pd
import pytest

import memgov
import memgov.kernels as mk
import memgov.pandas as mpd

rng = np.random.default_rng(12)


@pytest.mark.parametrize("values", [[0, 127], [-128, 127], [0, 128], [-129], [0, 255], [0, 65536],
                                    [-2**63, 2**63 - 1], list(range(-500, 500, 7))])
def test_integer_downcast_equals_to_numeric(values):
    a = np.array(values, dtype=np.int64)
    want = pd.to_numeric(pd.Series(a), downcast="integer").to_numpy()
    got = mk.downcast(a)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert a.dtype == np.int64  # not in place: the source is untouched
    if a.min() >= 0:
        assert mk.downcast(a, unsigned=True).dtype.itemsize == \
            pd.to_numeric(pd.Series(a), downcast="unsigned").dtype.itemsize


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # pandas' own cast of 1e300 to float32 overflows
@pytest.mark.parametrize("values", [[0.1], [1e300], [1.5, np.nan], [16777217.0], [np.inf, -0.0], [1e5 + 0.1]])
def test_float_downcast_is_exact_by_default_and_pandas_like_with_its_tolerance(values):
    a = np.array(values)
    exact = mk.downcast(a)
    assert np.array_equal(exact.astype(np.float64), a, equal_nan=True)
    want = pd.to_numeric(pd.Series(a), downcast="float").to_numpy()
    got = mk.downcast(a, abs_tolerance=5e-4)
    assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)


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
def test_factorize_equals_pd_factorize(sort):
    values = np.array([None if rng.random() < 0.05 else f"k{rng.integers(300)}é" for _ in range(20_000)],
                      dtype=object)
    values[3] = np.nan
    codes, uniques = mk.factorize(values, sort=sort)
    want_codes, want_uniques = pd.factorize(values, sort=sort)
    assert np.array_equal(codes.astype(np.int64), want_codes)
    assert list(uniques) == list(want_uniques)
    assert codes.dtype == np.int16  # 300 distinct values
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


@pytest.mark.parametrize("a", [rng.standard_normal(100_001) + 5, rng.integers(0, 1000, 5000),
                               rng.random(777).astype(np.float32)])
def test_describe_matches_numpy(a):
    s = mk.describe(a)
    x = a.astype(np.float64)
    assert s.count == a.size and s.min == x.min() and s.max == x.max()
    for got, want in ((s.mean, x.mean()), (s.var, x.var()), (s.var_sample, x.var(ddof=1)), (s.std, x.std())):
        assert abs(got - want) <= 1e-12 * abs(want)


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
