"""memgov.mmarray and RAM-disk folders against numpy 1.24: memgov's .npy files open in numpy (numpy.load with and
without mmap_mode) and numpy's files open in memgov, for every dtype memgov maps, header versions 1.0, 2.0 (also
a 2.0 header longer than 65535 bytes) and 3.0; the refusals (Fortran order, big-endian, other dtypes, truncated
files); the mapping's lifetime and budget charge; gov.ramdisk()."""
import gc
import io
import os

import numpy as np
import pytest

import memgov
import memgov.mmarray as mm

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
          "float64", "bool"]
SHAPES = [(), (0,), (7,), (3, 5), (2, 0, 4), (2, 3, 1, 2)]


def values(shape, dtype):
    n = int(np.prod(shape)) if shape else 1
    raw = (np.arange(n) * 7 + 3) % 101
    return (raw % 2 == 1 if dtype == "bool" else raw.astype(dtype)).reshape(shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_numpy_loads_what_memgov_creates(tmp_path, dtype, shape):
    path = tmp_path / "m.npy"
    a = mm.create(path, shape, dtype)
    assert a.shape == shape and a.dtype == np.dtype(dtype) and a.flags.writeable
    assert not a.any()  # created zero-filled
    a[...] = values(shape, dtype)
    mm.flush(a)
    for loaded in (np.load(path, mmap_mode="r"), np.load(path)):
        assert loaded.dtype == np.dtype(dtype) and loaded.shape == shape
        np.testing.assert_array_equal(loaded, values(shape, dtype))
    del a
    gc.collect()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_memgov_opens_what_numpy_writes(tmp_path, dtype, version):
    path = tmp_path / "n.npy"
    want = values((4, 6), dtype)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, want, version=version)
    got = mm.open(path)
    assert got.dtype == want.dtype and got.shape == want.shape and not got.flags.writeable
    np.testing.assert_array_equal(got, want)
    np.save(path, want)  # numpy's default writer (version 1.0)
    np.testing.assert_array_equal(mm.open(path), want)
    m = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(3,))
    m[:] = values((3,), dtype)
    m.flush()
    del m
    np.testing.assert_array_equal(mm.open(path), values((3,), dtype))


def test_a_version_2_header_longer_than_65535_bytes(tmp_path):
    """numpy writes version 2.0 when a header outgrows 1.0's 2-byte length; the dtypes memgov maps never need that,
    so the header is padded to 100 000 bytes by hand, as such a writer would."""
    want = np.arange(10, dtype="<f8")
    d = b"{'descr': '<f8', 'fortran_order': False, 'shape': (10,), }"
    total = (12 + len(d) + 100_000 + 63) // 64 * 64
    header = d + b" " * (total - 12 - len(d) - 1) + b"\n"
    blob = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header + want.tobytes()
    path = tmp_path / "big.npy"
    path.write_bytes(blob)
    np.testing.assert_array_equal(np.load(path, max_header_size=200_000), want)  # numpy agrees it is valid
    np.testing.assert_array_equal(mm.open(path), want)


def test_fortran_order_is_refused_unless_it_is_c_order_too(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    with pytest.raises(memgov.UnsupportedError, match="Fortran order"):
        mm.open(path)
    with open(path, "wb") as f:  # fortran_order True with one dimension longer than 1: same bytes as C order
        np.lib.format.write_array(f, np.asfortranarray(np.arange(3.0).reshape(1, 3)))
    np.testing.assert_array_equal(mm.open(path), [[0.0, 1.0, 2.0]])


def test_other_dtypes_and_big_endian_are_refused(tmp_path):
    path = tmp_path / "x.npy"
    for arr, says in [(np.arange(3, dtype=">i4"), "little-endian"), (np.zeros(2, complex), "not one memgov"),
                      (np.array(["ab"]), "not one memgov")]:
        np.save(path, arr)
        with pytest.raises(memgov.UnsupportedError, match=says):
            mm.open(path)
        with pytest.raises(memgov.UnsupportedError):
            mm.create(tmp_path / "y.npy", 3, arr.dtype)
    assert not (tmp_path / "y.npy").exists()


def test_truncated_and_foreign_files_raise_parse_error(tmp_path):
    path = tmp_path / "t.npy"
    buf = io.BytesIO()
    np.save(buf, np.arange(100.0))
    path.write_bytes(buf.getvalue()[:-8])
    with pytest.raises(memgov.ParseError, match="truncated"):
        mm.open(path)
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(memgov.ParseError, match="magic"):
        mm.open(path)
    with pytest.raises(memgov.NotFoundError):
        mm.open(tmp_path / "absent.npy")


def test_a_shape_whose_non_zero_extents_overflow_is_refused_like_numpy(tmp_path):
    """(2**32, 2**32, 0) is empty, yet numpy refuses it ("array is too big"): so does memgov (MEMGOV_EOVERFLOW)."""
    d = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }"
    total = (10 + len(d) + 1 + 63) // 64 * 64
    header = d + b" " * (total - 10 - len(d) - 1) + b"\n"
    path = tmp_path / "o.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="too big"):
        np.load(path, mmap_mode="r")
    with pytest.raises(memgov.SizeOverflowError, match="INT64_MAX"):
        mm.open(path)


def test_read_write_open_writes_through_and_read_only_refuses_writes(tmp_path):
    path = tmp_path / "rw.npy"
    np.save(path, np.zeros(5, "int32"))
    ro = mm.open(path)
    with pytest.raises(ValueError):
        ro[0] = 1
    rw = mm.open(path, "r+")
    rw[2] = 42
    mm.flush(rw)
    assert np.load(path)[2] == 42
    assert ro[2] == 42  # the same file's pages
    assert mm.path_of(rw[1:]) == str(path)
    with pytest.raises(memgov.InvalidArgumentError):
        mm.flush(np.zeros(3))
    with pytest.raises(memgov.InvalidArgumentError):
        mm.open(path, "w")


def test_create_refuses_an_existing_file_unless_overwrite(tmp_path):
    path = tmp_path / "e.npy"
    path.write_bytes(b"keep me")
    with pytest.raises(memgov.ExistsError):
        mm.create(path, 4, "uint8")
    assert path.read_bytes() == b"keep me"
    a = mm.create(path, 4, "uint8", overwrite=True)
    assert a.shape == (4,) and np.load(path).shape == (4,)


def test_the_budget_is_charged_while_any_view_lives(gov, tmp_path):
    b = gov.budget("maps", hard="1MiB")
    a = mm.create(tmp_path / "c.npy", (100, 100), "float32", budget=b)
    assert b.stats().reserved == 128 + 40_000
    view = a[10:20]
    del a
    gc.collect()
    assert b.stats().reserved == 128 + 40_000  # the view keeps the mapping
    view[:] = 1.0
    del view
    gc.collect()
    assert b.stats().reserved == 0
    with pytest.raises(memgov.BudgetExceededError):
        mm.create(tmp_path / "d.npy", (1024, 1024), "float64", budget=b)
    assert not (tmp_path / "d.npy").exists()
    b.destroy()


def test_ramdisk_is_capped_charged_and_removed(gov):
    with gov.ramdisk(cap="256KiB") as rd:
        path = rd.path
        assert os.path.isdir(path) and path.startswith("/dev/shm/memgov-ramdisk.%d." % os.getpid())
        with rd.create_file("a.bin", 10_000) as f:
            f.write(b"x" * 10)
        assert rd.used == 12_288 and gov.root.stats().reserved == 12_288
        with pytest.raises(memgov.BudgetExceededError, match="cap"):
            rd.create_file("b.bin", "1MiB")
        assert not os.path.exists(os.path.join(path, "b.bin"))
        with open(os.path.join(path, "lib.out"), "wb") as f:  # a library writing into the folder by itself
            f.write(b"y" * 50_000)
        assert rd.recount() >= 12_288 + 50_000
        assert gov.root.stats().reserved == rd.used
        rd.remove("lib.out")
        assert rd.used == 12_288
    assert not os.path.exists(path)
    assert gov.root.stats().reserved == 0
    with pytest.raises(memgov.StateError):
        rd.recount()
    assert memgov.ramdisk.sweep() >= 0
