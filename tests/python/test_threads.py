"""memgov.threads: the BLAS and OpenMP pools seen from Python, checked from outside with threadpoolctl (Debian's
python3-threadpoolctl), which reads the same libraries through its own code."""
import os
import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl
from sklearn.neighbors import KNeighborsClassifier

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


# ---- leases: gov.threads() ----------------------------------------------------------------------------------


def test_a_lease_for_n_jobs_limits_numpys_blas_inside_the_block(gov):
    X = np.random.default_rng(0).random((200, 8))
    y = (X[:, 0] > 0.5).astype(int)
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):
        lease = gov.threads(n_jobs=-1, bytes_per_worker="1MiB")
        with lease as n:
            assert n == mt.capacity(gov) >= 1
            assert lease.count == n and lease.target == n
            assert set(_blas_threads().values()) == {n}
            assert gov.root.stats().reserved == n * (1 << 20)
            pred = KNeighborsClassifier(n_neighbors=3, n_jobs=n).fit(X, y).predict(X)
            assert (pred == y).mean() > 0.8
        assert set(_blas_threads().values()) == {3}
        assert gov.root.stats().reserved == 0
        assert not lease.held and lease.count == 0


def test_without_limit_pools_the_blas_count_is_left_alone(gov):
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):
        with gov.threads(n_jobs=1, bytes_per_worker=0, limit_pools=False) as n:
            assert n == 1
            assert set(_blas_threads().values()) == {3}


def test_nested_leases_limit_in_turn(gov):
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):
        with gov.threads(n_jobs=-1, bytes_per_worker=0) as n:
            with gov.threads(n_jobs=1, bytes_per_worker=0) as inner:
                assert inner == 1
                assert set(_blas_threads().values()) == {1}
            assert set(_blas_threads().values()) == {n}
        assert set(_blas_threads().values()) == {3}


def test_memory_bounds_the_grant():
    with memgov.Governor(limit="3MiB", env=False) as g:
        with g.threads(n_jobs=8, bytes_per_worker="2MiB") as n:
            assert n == 1  # 3 MiB of headroom cover one 2 MiB worker
        with pytest.raises(memgov.MemgovError):
            with g.threads(n_jobs=2, bytes_per_worker="2MiB", all_or_nothing=True):
                pass
        with pytest.raises(memgov.BudgetExceededError):
            with g.threads(n_jobs=1, bytes_per_worker="4MiB"):
                pass


@pytest.mark.parametrize("n_jobs, error", [(0, memgov.InvalidArgumentError), ("2", TypeError),
                                           (-10000, memgov.InvalidArgumentError), (5000, memgov.RangeError)])
def test_bad_n_jobs_are_refused(gov, n_jobs, error):
    with pytest.raises(error):
        with gov.threads(n_jobs=n_jobs, bytes_per_worker=0):
            pass
    assert gov.root.stats().reserved == 0


def test_n_jobs_counts_as_joblib_does(gov):
    cap = mt.capacity(gov)
    with gov.threads(n_jobs=None, bytes_per_worker=0) as n:
        assert n == 1
    if cap >= 2:
        with gov.threads(n_jobs=-2, bytes_per_worker=0) as n:
            assert n == cap - 1


def test_a_lease_is_entered_once_and_released_idempotently(gov):
    lease = gov.threads(n_jobs=1, bytes_per_worker=0)
    with lease:
        with pytest.raises(memgov.StateError):
            lease.__enter__()
        assert lease.resize(1) == 1
    lease.release()
    with pytest.raises(memgov.StateError):
        lease.resize(1)
