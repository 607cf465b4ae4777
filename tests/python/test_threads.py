"""memgov.threads: the BLAS and OpenMP pools seen from Python, checked from outside with threadpoolctl (Debian's
python3-threadpoolctl), which reads the same libraries through its own code."""
import os
import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl

import memgov
import memgov.threads as mt


def _blas_threads():
    """numpy's BLAS counts as threadpoolctl reads them: {filepath: num_threads}."""
    return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_numpys_openblas_is_found_as_threadpoolctl_finds_it():
    np.ones(4) @ np.ones(4)  # numpy's BLAS is loaded with numpy already; this uses it
    found = [p for p in mt.pools() if p.kind == "openblas"]
    theirs = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
    assert [p.path for p in found] == [os.path.realpath(i["filepath"]) for i in theirs]
    assert len(found) == 1
    assert found[0].version == theirs[0]["version"]
    assert found[0].threading == theirs[0]["threading_layer"]
    assert found[0].threads == theirs[0]["num_threads"]
    assert not found[0].read_only


def test_the_limit_is_seen_inside_the_block_and_undone_after_it():
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):  # a known starting count
        before = _blas_threads()
        assert set(before.values()) == {3}
        with mt.limit_pools(1) as lim:
            assert set(_blas_threads().values()) == {1}
            assert any(p.kind == "openblas" and p.threads == 1 for p in lim.pools)
            a = np.arange(64.0).reshape(8, 8)
            assert (a @ np.eye(8) == a).all()
        assert _blas_threads() == before


def test_the_limit_is_undone_when_the_block_raises():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with pytest.raises(KeyError):
            with mt.limit_pools(1):
                raise KeyError("x")
        assert set(_blas_threads().values()) == {2}


def test_a_limit_object_cannot_be_entered_twice():
    lim = mt.limit_pools(1)
    with lim:
        with pytest.raises(memgov.StateError):
            lim.__enter__()


@pytest.mark.parametrize("bad, error", [(0, memgov.RangeError), (-1, memgov.RangeError),
                                        (mt.MAX_THREADS + 1, memgov.RangeError), (2**40, memgov.RangeError),
                                        ("2", TypeError), (True, TypeError), (1.0, TypeError)])
def test_bad_counts_are_refused_and_nothing_changes(bad, error):
    before = _blas_threads()
    with pytest.raises(error) as info:
        with mt.limit_pools(bad):
            pass
    if error is memgov.RangeError:
        assert "MEMGOV_POOLS_MAX_THREADS" in str(info.value)
    with pytest.raises(error):
        mt.child_env(bad)
    assert _blas_threads() == before


def test_a_process_without_numpy_finds_no_pool():
    out = subprocess.run([sys.executable, "-c", "import memgov.threads as t; print(len(t.pools()))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_the_child_environment_sizes_a_childs_numpy():
    env = mt.child_env(1, {**os.environ, "OMP_NUM_THREADS": "64", "KEEP": "me"})
    assert {k: env[k] for k in mt.env_names()} == {k: "1" for k in mt.env_names()}
    assert "OPENBLAS_NUM_THREADS" in mt.env_names() and "OMP_NUM_THREADS" in mt.env_names()
    assert env["KEEP"] == "me" and env["PATH"] == os.environ["PATH"]
    child = ("import numpy, threadpoolctl; "
             "print(sorted({i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1]"


def test_the_child_environment_defaults_to_os_environ():
    env = mt.child_env(2)
    assert env["OMP_NUM_THREADS"] == "2"
    assert all(env[k] == v for k, v in os.environ.items() if k not in mt.env_names())
