"""numpy (and pandas) memory charged to budgets through numpy's memory handler."""
import asyncio
import concurrent.futures
import contextvars
import gc
import threading

import numpy as np
import pytest

import memgov
from memgov.numpy_support import handler_name

MiB = 1 << 20


def test_arrays_are_charged_exactly_and_credited_on_del(gov):
    b = gov.budget("arrays", hard="64MiB")
    with b.numpy():
        a = np.ones(1_000_000)  # 8,000,000 bytes
        assert handler_name(a) == "memgov:arrays"
        used = b.stats().used
        assert used >= a.nbytes and used == b.usable_size(a.ctypes.data)  # charged in usable bytes
        c = np.ones(1000)
        assert b.stats().used == used + b.usable_size(c.ctypes.data)
        del c
    del a
    assert b.stats().used == 0
    b.destroy()


def test_small_and_empty_arrays_are_credited_in_full(gov):
    b = gov.budget("small", hard="64MiB")
    with b.numpy():
        arrays = [np.empty(n, dtype=np.uint8) for n in (0, 1, 7, 8, 100, 1024, 4095, 70_000)]
        arrays += [np.zeros((0, 5)), np.array([], dtype=np.float64), np.arange(3).reshape(1, 3)]
        assert b.stats().used > 0
        assert b.stats().allocations >= len(arrays)
    del arrays
    assert b.stats().used == 0
    b.destroy()


def test_realloc_paths_stay_exact(gov):
    b = gov.budget("resize", hard="64MiB")
    with b.numpy():
        a = np.zeros(1000)
        a.resize(100_000, refcheck=False)  # PyDataMem_UserRENEW -> memgov_realloc
        assert b.stats().used >= a.nbytes
        a.resize(10, refcheck=False)
    del a
    assert b.stats().used == 0
    b.destroy()


def test_crossing_the_cap_raises_numpy_memory_error_with_memgov_text(gov):
    b = gov.budget("capped", hard="8MiB")
    with b.numpy():
        keep = np.ones(512 * 1024)  # 4 MiB
        with pytest.raises(MemoryError) as e:
            np.empty(5 * MiB, dtype=np.uint8)
        msg = str(e.value)
        assert "Unable to allocate 5.00 MiB" in msg  # numpy's text ...
        assert "budget 'capped' refused 5.00 MiB" in msg and "hard limit of 8.00 MiB" in msg  # ... and memgov's
        assert e.value.memgov_message.startswith("budget 'capped' refused")
        with pytest.raises(MemoryError, match="budget 'capped' refused"):
            np.zeros((1024, 1024))  # calloc path
        with pytest.raises(MemoryError, match="budget 'capped'"):
            np.concatenate([keep, keep])  # 8 MiB more: another allocation path
    assert b.stats().refusals == 3
    del keep
    assert b.stats().used == 0
    b.destroy()


def test_a_memory_error_outside_memgov_does_not_get_a_stale_message(gov):
    b = gov.budget("stale", hard="1MiB")
    with b.numpy():
        with pytest.raises(MemoryError):
            np.empty(2 * MiB, dtype=np.uint8)
    with pytest.raises(MemoryError) as e:  # numpy's default handler: the system says no
        np.empty(1 << 60, dtype=np.uint8)
    assert "budget" not in str(e.value)
    b.destroy()


def test_pandas_dataframe_built_inside_the_context_is_charged(gov):
    pd = pytest.importorskip("pandas")
    b = gov.budget("frames", hard="128MiB")
    with b.numpy():
        df = pd.DataFrame({"a": np.arange(200_000, dtype=np.int64), "b": np.random.default_rng(0).random(200_000)})
        g = df.groupby(df["a"] % 10)["b"].sum()
        assert b.stats().used >= 2 * 200_000 * 8
    assert len(g) == 10
    del df, g
    gc.collect()
    assert b.stats().used == 0
    b.destroy()


def test_pandas_refusal_is_a_memory_error_naming_the_budget(gov):
    pd = pytest.importorskip("pandas")
    b = gov.budget("tiny-frames", hard="1MiB")
    with b.numpy():
        with pytest.raises(MemoryError, match="budget 'tiny-frames'"):
            pd.DataFrame({"a": np.zeros(1_000_000)})
    gc.collect()
    assert b.stats().used == 0
    b.destroy()


def test_arrays_outlive_the_context_and_are_credited_when_freed(gov):
    b = gov.budget("outlive", hard="64MiB")
    with b.numpy():
        a = np.ones(100_000)
    after = np.ones(100_000)  # default handler again
    assert handler_name(after) == "default_allocator"
    assert b.stats().used >= a.nbytes
    with pytest.raises(memgov.BusyError, match="numpy"):
        b.destroy()  # arrays still use it
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    holder = [a]
    del a
    freed = threading.Thread(target=holder.clear)  # freed on another thread: still credited to the budget
    freed.start()
    freed.join()
    assert b.stats().used == 0
    b.destroy()


def test_budget_object_lives_while_its_arrays_do(gov):
    b = gov.budget("kept")
    with b.numpy():
        a = np.ones(10_000)
    del b
    gc.collect()
    assert gov.root.stats().children == 1  # the array keeps the budget
    del a
    gc.collect()
    assert gov.root.stats().children == 0  # then the budget went with its last array


def test_two_threads_with_different_budgets_do_not_mix(gov):
    b1, b2 = gov.budget("t1", hard="64MiB"), gov.budget("t2", hard="64MiB")
    barrier = threading.Barrier(2)
    out = {}

    def work(budget, n):
        with budget.numpy():
            barrier.wait()
            arrays = [np.ones(n) for _ in range(50)]
            barrier.wait()
            out[budget.name] = (budget.stats().used, sum(budget.usable_size(a.ctypes.data) for a in arrays),
                                handler_name(arrays[0]))
            barrier.wait()

    threads = [threading.Thread(target=work, args=(b1, 1000)), threading.Thread(target=work, args=(b2, 30_000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    used1, bytes1, h1 = out["t1"]
    used2, bytes2, h2 = out["t2"]
    assert (h1, h2) == ("memgov:t1", "memgov:t2")
    assert used1 == bytes1 >= 50 * 8000 and used2 == bytes2 >= 50 * 240_000
    assert b1.stats().used == 0 and b2.stats().used == 0
    b1.destroy()
    b2.destroy()


def test_new_threads_start_with_numpy_default_and_bind_enters_the_budget(gov):
    b = gov.budget("workers", hard="64MiB")
    with b.numpy():
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            plain = pool.submit(lambda: handler_name(np.ones(10))).result()
            bound = pool.submit(b.bind(lambda: handler_name(np.ones(10)))).result()
            ctx = pool.submit(contextvars.copy_context().run, lambda: handler_name(np.ones(10))).result()
    assert plain == "default_allocator"
    assert bound == "memgov:workers" and ctx == "memgov:workers"
    with concurrent.futures.ThreadPoolExecutor(1, initializer=b.install_numpy_handler) as pool:
        assert pool.submit(lambda: handler_name(np.ones(10))).result() == "memgov:workers"
    gc.collect()
    assert b.stats().used == 0
    b.destroy()


def test_asyncio_tasks_inherit_the_context(gov):
    b = gov.budget("async", hard="64MiB")

    async def child():
        return handler_name(np.ones(10))

    async def main():
        with b.numpy():
            return await asyncio.create_task(child())

    assert asyncio.run(main()) == "memgov:async"
    gc.collect()
    b.destroy()


def test_nested_contexts_restore_the_outer_handler(gov):
    outer, inner = gov.budget("outer", hard="64MiB"), gov.budget("inner", hard="64MiB")
    with outer.numpy():
        with inner.numpy():
            assert handler_name(np.ones(10)) == "memgov:inner"
            with outer.numpy():
                assert handler_name(np.ones(10)) == "memgov:outer"
            assert handler_name(np.ones(10)) == "memgov:inner"
        assert handler_name(np.ones(10)) == "memgov:outer"
    assert handler_name(np.ones(10)) == "default_allocator"
    gc.collect()
    outer.destroy()
    inner.destroy()


def test_an_entered_context_keeps_the_budget_busy(gov):
    b = gov.budget("entered")
    with b.numpy():
        with pytest.raises(memgov.BusyError):
            b.destroy()
        with pytest.raises(memgov.BusyError, match="entered"):
            gov.close()
    gc.collect()
    b.destroy()


def test_parent_budget_caps_numpy_in_a_child(gov):
    parent = gov.budget("job", hard="4MiB")
    child = parent.budget("stage")
    with child.numpy():
        with pytest.raises(MemoryError, match="budget 'job'"):
            np.ones(MiB)
    gc.collect()
    child.destroy()
    parent.destroy()


def test_numpy_context_after_destroy_raises(gov):
    b = gov.budget("gone")
    b.destroy()
    with pytest.raises(memgov.StateError):
        b.numpy()


def test_an_entered_root_context_keeps_the_governor_open():
    gov = memgov.Governor(limit="64MiB", env=False)
    with gov.root.numpy():
        a = np.ones(1000)
        del a
        with pytest.raises(memgov.BusyError, match="root"):
            gov.close()  # the root is empty, but the context would still allocate from it
        assert handler_name(np.ones(4)) == "memgov:root"
    gc.collect()
    gov.close()
    assert gov.closed


def test_a_reclaim_callback_can_drop_cached_arrays_to_let_numpy_allocate(gov):
    b = gov.budget("cache", hard="8MiB")
    cache = []

    def drop(needed, refusing):
        freed = sum(a.nbytes for a in cache)
        cache.clear()  # numpy frees the buffers here, inside the refused allocation: credited at once
        return freed

    b.on_refusal(drop)
    with b.numpy():
        cache.extend(np.ones(128 * 1024) for _ in range(6))  # 6 MiB cached
        big = np.ones(512 * 1024)  # 4 MiB: refused at first, fits after the cache is dropped
    assert cache == [] and b.stats().reclaims == 1 and b.stats().refusals == 0
    assert b.stats().used == b.usable_size(big.ctypes.data)
    del big
    b.destroy()
