"""Governor and Budget: limits, stats, reservations, callbacks, events, life cycle and use after close."""
import gc

import pytest

import memgov

MiB = 1 << 20


def test_governor_root_limits_from_sizes():
    with memgov.Governor(limit="64MiB", soft_limit="32M", env=False) as gov:
        st = gov.root.stats()
        assert (st.hard_limit, st.soft_limit) == (64 * MiB, 32 * MiB)
        assert gov.root.name == "root" and gov.root.parent is None
    assert gov.closed


def test_governor_config_mapping_and_file(tmp_path):
    f = tmp_path / "job.conf"
    f.write_text("[batch]\nmax = 77\n")
    with memgov.Governor(limit="64MiB", config=f, env=False) as gov:
        assert gov.config["batch.max"] == 77
        assert gov.config.source("batch.max") == "file"
    with memgov.Governor(limit="64MiB", config={"batch.max": 33}, env=False) as gov:
        assert gov.config["batch.max"] == 33


def test_governor_bad_config_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(memgov.NotFoundError):
        memgov.Governor(config=tmp_path / "missing.conf", env=False)
    with pytest.raises(memgov.RangeError):
        memgov.Governor(limit="64MiB", soft_limit="128MiB", env=False)


def test_budget_stats_is_a_frozen_dataclass_with_the_c_fields(gov):
    b = gov.budget("model", hard="8MiB", soft="4MiB", own_arena=True)
    st = b.stats()
    assert st.hard_limit == 8 * MiB and st.soft_limit == 4 * MiB and st.used == 0 and st.own_arena
    with pytest.raises(Exception):
        st.used = 5
    assert gov.root.stats().children == 1
    b.destroy()


def test_malloc_charges_usable_bytes_and_refusal_names_the_budget(gov):
    b = gov.budget("raw", hard=1 * MiB)
    p = b.malloc(100_000)
    assert b.stats().used >= 100_000
    with pytest.raises(memgov.BudgetExceededError) as e:
        b.malloc(2 * MiB)
    assert isinstance(e.value, MemoryError)
    assert "budget 'raw' refused 2.00 MiB" in str(e.value) and "1.00 MiB" in str(e.value)
    assert b.stats().refusals == 1
    b.free(p)
    assert b.stats().used == 0
    b.destroy()


def test_reserve_as_context_manager_and_plain(gov):
    b = gov.budget("buffers", hard="10MiB")
    with b.reserve("4MiB") as r:
        assert b.stats().reserved == 4 * MiB and b.stats().used == 4 * MiB
        with pytest.raises(MemoryError):
            b.reserve("7MiB")
    assert r.released and b.stats().used == 0
    r.release()  # idempotent
    r2 = b.reserve(1000)
    b.release(1000)
    assert b.stats().used == 0 and r2.nbytes == 1000
    with pytest.raises(memgov.RangeError):
        b.release(1)
    b.destroy()


def test_set_limits_and_reset_peak(gov):
    b = gov.budget("limits")
    b.set_limits(hard="2MiB", soft="1MiB")
    assert (b.stats().hard_limit, b.stats().soft_limit) == (2 * MiB, 1 * MiB)
    with pytest.raises(memgov.RangeError):
        b.set_limits(hard="1MiB", soft="2MiB")
    with b.reserve(MiB):
        pass
    assert b.stats().peak >= MiB
    b.reset_peak()
    assert b.stats().peak < MiB
    b.set_limits()
    assert b.stats().hard_limit == 0
    b.destroy()


def test_child_budgets_and_parent_caps(gov):
    parent = gov.budget("parent", hard="2MiB")
    child = parent.budget("child")
    assert child.parent is parent
    with pytest.raises(MemoryError) as e:
        child.reserve("3MiB")
    assert "budget 'parent'" in str(e.value)
    with pytest.raises(memgov.BusyError) as e:
        parent.destroy()
    assert "child" in str(e.value)
    child.destroy()
    parent.destroy()


def test_reclaim_callback_frees_and_the_request_is_retried(gov):
    b = gov.budget("cache", hard="4MiB")
    held = [b.reserve("3MiB")]
    calls = []

    def reclaim(needed, refusing):
        calls.append((needed, refusing))
        held.pop().release()
        return 3 * MiB

    reg = b.on_refusal(reclaim, priority=5)
    with b.reserve("2MiB"):
        pass
    assert calls and calls[0][1] == "cache" and calls[0][0] >= MiB
    assert b.stats().reclaims == 1
    reg.remove()
    reg.remove()
    b.reserve("3MiB")
    with pytest.raises(MemoryError):
        b.reserve("2MiB")
    assert len(calls) == 1  # removed: not called again
    b.release("3MiB")
    b.destroy()


def test_events_reach_python_listeners(gov):
    b = gov.budget("events", hard="4MiB", soft="1MiB")
    seen = []
    reg = gov.root.on_event(seen.append)  # the root hears every budget's events
    r = b.reserve("2MiB")
    r.release()
    with pytest.raises(MemoryError):
        b.reserve("5MiB")
    b.set_limits(hard="8MiB")
    kinds = [(e.kind, e.budget) for e in seen]
    assert ("soft_crossed", "events") in kinds and ("soft_cleared", "events") in kinds
    assert ("hard_refusal", "events") in kinds and ("limit_changed", "events") in kinds
    refusal = next(e for e in seen if e.kind == "hard_refusal")
    assert refusal.request == 5 * MiB and refusal.hard_limit == 4 * MiB and refusal.origin == "events"
    reg.remove()
    b.destroy()


def test_callback_exceptions_are_reported_and_contained(gov, callback_errors):
    b = gov.budget("faulty", hard="1MiB")
    b.on_refusal(lambda needed, name: 1 / 0)
    b.on_event(lambda e: (_ for _ in ()).throw(RuntimeError("listener broke")))
    with pytest.raises(MemoryError):
        b.reserve("2MiB")
    kinds = sorted(type(e).__name__ for _, e in callback_errors)
    assert "ZeroDivisionError" in kinds and "RuntimeError" in kinds
    assert any("reclaim callback of budget 'faulty'" in w for w, _ in callback_errors)
    b.destroy()


def test_callback_table_full_is_a_range_error(gov):
    b = gov.budget("full")
    regs = [b.on_event(lambda e: None) for _ in range(8)]
    with pytest.raises(memgov.RangeError):
        b.on_event(lambda e: None)
    for r in regs:
        r.remove()
    b.destroy()


def test_with_budget_destroys_it_when_empty(gov):
    with gov.budget("scoped", hard="1MiB") as b:
        b.reserve(100).release()
    assert b.closed
    with pytest.raises(memgov.StateError) as e:
        b.stats()
    assert "destroyed" in str(e.value)
    b.destroy()  # idempotent


def test_with_budget_keeps_a_busy_budget(gov):
    with gov.budget("busy") as b:
        r = b.reserve(100)
    assert not b.closed
    r.release()
    b.destroy()


def test_close_is_idempotent_and_use_after_close_raises():
    gov = memgov.Governor(limit="64MiB", env=False)
    b = gov.budget("x")
    cfg, fb, mon = gov.config, gov.fallback, gov.monitor
    gov.close()
    gov.close()
    assert gov.closed and b.closed
    for call in (lambda: gov.root, lambda: gov.budget("y"), b.stats, lambda: b.reserve(1), lambda: cfg["batch.max"],
                 lambda: fb.mode, mon.sample):
        with pytest.raises(memgov.StateError):
            call()
    b = None
    gc.collect()  # the budget's finalizer must not call into the closed governor


def test_close_refuses_while_bytes_are_live_and_the_governor_stays_open():
    gov = memgov.Governor(limit="64MiB", env=False)
    b = gov.budget("holder")
    r = b.reserve(1000)
    with pytest.raises(memgov.BusyError):
        gov.close()
    assert not gov.closed and b.stats().used == 1000
    r.release()
    gov.close()
    assert gov.closed


def test_finalizers_destroy_forgotten_budgets():
    gov = memgov.Governor(limit="64MiB", env=False)
    gov.budget("forgotten")
    gc.collect()
    assert gov.root.stats().children == 0
    gov.close()


def test_default_governor_is_one_object_and_close_keeps_it_open():
    d = memgov.default()
    assert d is memgov.default() and d.is_default
    b = d.budget("py-default-test", hard="1MiB")
    d.close()
    assert not d.closed and b.closed
    assert d.root.stats().hard_limit > 0


def test_budget_from_another_governor_is_refused(gov):
    with memgov.Governor(limit="64MiB", env=False) as other:
        with pytest.raises(memgov.InvalidArgumentError):
            gov.budget("x", parent=other.root)


def test_root_cannot_be_destroyed(gov):
    with pytest.raises(memgov.InvalidArgumentError):
        gov.root.destroy()


def test_handles_and_reprs_for_c_code(gov):
    import ctypes
    b = gov.budget("handles", hard="1MiB")
    assert gov.handle and b.handle and gov.root.handle
    lib = memgov._lib.LIB
    assert ctypes.c_void_p(lib.memgov_budget_parent(b.handle)).value == gov.root.handle
    assert "handles" in repr(b) and "1.00 MiB" in repr(b) and "Governor" in repr(gov)
    assert "mode=normal" in repr(gov.fallback) and "samples=0" in repr(gov.monitor) and "NORMAL" in repr(gov.config)
    b.destroy()
    assert "closed" in repr(b)
    with pytest.raises(memgov.StateError):
        b.handle


def test_monitor_started_at_open_stops_at_close():
    gov = memgov.Governor(limit="64MiB", env=False, monitor=True)
    assert gov.monitor.running
    gov.close()
    assert gov.closed
