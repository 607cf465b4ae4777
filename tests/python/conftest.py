"""Shared fixtures of the Python package's tests (run by `meson test --suite python` with PYTHONPATH set to the
build tree's bindings/python, so the package under test is the one just built)."""
import gc
import threading

import pytest

import memgov

MiB = 1 << 20


@pytest.fixture
def gov():
    """A private governor with a 256 MiB root, no environment, closed (and checked closable) at the end."""
    g = memgov.Governor(limit=256 * MiB, env=False)
    yield g
    gc.collect()
    g.close()
    assert g.closed


@pytest.fixture
def sim(gov):
    """A simulated 64 MiB device (memgov.Gpu) of `gov` with a 16 MiB cap, closed at the end."""
    g = memgov.Gpu(gov, "simulated", sim_total=64 * MiB, limit=16 * MiB)
    yield g
    g.close()


@pytest.fixture
def callback_errors():
    """Collects (where, exception) reported by memgov's callback error hook."""
    seen = []
    lock = threading.Lock()

    def hook(where, exc):
        with lock:
            seen.append((where, exc))

    old = memgov.set_callback_error_hook(hook)
    yield seen
    memgov.set_callback_error_hook(old)
