"""The package itself: import, version, the library loader and its errors, error mapping, sizes."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import memgov
from memgov import _lib
from memgov.errors import ERRORS, error_for

PKG = pathlib.Path(memgov.__file__).parent


def test_version_comes_from_the_c_library():
    assert memgov.__version__ == _lib.LIB.memgov_version_string().decode()
    assert memgov.__version__ == ".".join(map(str, _lib.BUILT_VERSION))
    assert "jemalloc" in memgov.build_info or "libc" in memgov.build_info


def test_the_recorded_library_is_the_one_loaded():
    assert memgov.LIBRARY_PATH == _lib._paths.LIBRARY
    assert os.path.exists(memgov.LIBRARY_PATH)


def test_typed_package_with_docstrings_on_every_public_name():
    assert (PKG / "py.typed").exists()
    missing = [n for n in memgov.__all__ if not n.startswith("__") and n not in ("LIBRARY_PATH", "build_info")
               and not (getattr(memgov, n).__doc__ or "").strip()]
    assert missing == []
    for cls in (memgov.Governor, memgov.Budget, memgov.Config, memgov.Monitor, memgov.Fallback):
        for name, member in vars(cls).items():
            if not name.startswith("_") and callable(member):
                assert (member.__doc__ or "").strip(), f"{cls.__name__}.{name} has no docstring"


def _import_with(tmp_path, recorded, env_library):
    """Imports a copy of the package whose recorded path is `recorded`, with MEMGOV_LIBRARY=env_library."""
    copy = tmp_path / "memgov"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "_paths.py").write_text(f"LIBRARY = {recorded!r}\nVERSION = {_lib.BUILT_VERSION!r}\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), LD_LIBRARY_PATH="")
    env.pop("MEMGOV_LIBRARY", None)
    if env_library is not None:
        env["MEMGOV_LIBRARY"] = env_library
    return subprocess.run([sys.executable, "-c", "import memgov; print(memgov.LIBRARY_PATH)"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_missing_library_gives_an_import_error_naming_each_file_tried(tmp_path):
    r = _import_with(tmp_path, "/nonexistent/libmemgov.so.1", "/also/missing/libmemgov.so.1")
    assert r.returncode != 0
    assert "ImportError: memgov: cannot load the C library" in r.stderr
    assert "/nonexistent/libmemgov.so.1 (recorded when the package was built/installed): no such file" in r.stderr
    assert "/also/missing/libmemgov.so.1 ($MEMGOV_LIBRARY): no such file" in r.stderr
    assert "libmemgov.so.1 (the dynamic loader's search path)" in r.stderr


def test_memgov_library_is_tried_after_the_recorded_path(tmp_path):
    r = _import_with(tmp_path, "/nonexistent/libmemgov.so.1", memgov.LIBRARY_PATH)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == memgov.LIBRARY_PATH


def test_an_abi_incompatible_library_is_refused_with_the_reason(tmp_path):
    import ctypes.util
    libm = ctypes.util.find_library("m")
    r = _import_with(tmp_path, "/nonexistent/libmemgov.so.1", libm)
    assert r.returncode != 0
    assert f"{libm} ($MEMGOV_LIBRARY): not a compatible libmemgov" in r.stderr
    assert "missing" in r.stderr and "memgov_version_number" in r.stderr


@pytest.mark.parametrize("status,cls,builtin", [
    (1, memgov.InvalidArgumentError, ValueError), (2, memgov.BudgetExceededError, MemoryError),
    (3, memgov.SizeOverflowError, OverflowError), (4, memgov.BusyError, memgov.MemgovError),
    (5, memgov.NotFoundError, LookupError), (6, memgov.ExistsError, memgov.MemgovError),
    (7, memgov.RangeError, ValueError), (8, memgov.ConfigTypeError, TypeError),
    (9, memgov.ParseError, ValueError), (10, memgov.MemgovIOError, OSError), (11, memgov.NoSpaceError, OSError),
    (12, memgov.UnsupportedError, memgov.MemgovError), (13, memgov.StateError, memgov.MemgovError),
    (14, memgov.CanceledError, memgov.MemgovError), (15, memgov.InternalError, memgov.MemgovError)])
def test_every_status_maps_to_its_exception_class(status, cls, builtin):
    err = error_for(status, "the message")
    assert type(err) is cls and isinstance(err, memgov.MemgovError) and isinstance(err, builtin)
    assert err.status == status and str(err) == "the message"
    assert err.status_name == _lib.LIB.memgov_status_name(status).decode()
    assert ERRORS[status] is cls


def test_the_message_is_memgov_last_error():
    with pytest.raises(memgov.NotFoundError) as e:
        memgov.Config().set("batch.maxx", "3")
    assert "batch.maxx" in str(e.value) and str(e.value) == e.value.message
    assert e.value.status_name == "MEMGOV_ENOTFOUND"


@pytest.mark.parametrize("text,expected", [("512", 512), ("2GiB", 2 << 30), ("512M", 512 << 20),
                                           ("1.5K", 1536), ("500MB", 500_000_000), (" 64 KiB ", 64 << 10)])
def test_sizes_accept_ints_and_memgov_size_text(text, expected):
    assert memgov.parse_size(text) == expected
    assert memgov.parse_size(expected) == expected


def test_percent_sizes_resolve_against_the_effective_memory():
    eff = memgov.probe(hwloc=False, cpuid=False).effective_memory
    assert abs(memgov.parse_size("50%") - eff // 2) <= 1


@pytest.mark.parametrize("bad,cls", [("2 furlongs", memgov.ParseError), ("lots", memgov.ParseError),
                                     (-1, memgov.RangeError), ("-5M", memgov.RangeError),
                                     (1 << 64, memgov.RangeError), ("", memgov.InvalidArgumentError)])
def test_bad_sizes_raise_with_the_value(bad, cls):
    with pytest.raises(cls) as e:
        memgov.parse_size(bad, "limit")
    assert str(e.value).startswith("limit:")


def test_non_size_types_are_a_type_error():
    with pytest.raises(TypeError):
        memgov.parse_size(1.5)
    with pytest.raises(TypeError):
        memgov.parse_size(True)


def test_format_bytes():
    assert memgov.format_bytes(1536) == "1.50 KiB"
    assert memgov.format_bytes(64 << 20) == "64.0 MiB"


def test_durations_through_the_c_parser():
    assert memgov.parse_duration("100ms") == 0.1 and memgov.parse_duration("2min") == 120.0
    assert memgov.parse_duration(1.5) == 1.5
    with pytest.raises(memgov.ParseError):
        memgov.parse_duration("soon")
    with pytest.raises(memgov.RangeError):
        memgov.parse_duration(-1)
