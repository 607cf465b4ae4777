"""Monitor (metrics, alerts from the sampler thread, reports, leak_check) and fallback (modes, pinning,
subscriptions, run_with_fallback and the decorator)."""
import json
import math
import threading
import time

import numpy as np
import pytest

import memgov
from memgov import Mode

MiB = 1 << 20


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_metrics_sample_and_report(gov):
    b = gov.budget("watched", hard="16MiB")
    mon = gov.monitor
    name = mon.add_budget_metric(b)
    mon.add_metric("app.items", lambda: 7, unit="count")
    assert name == "budget.watched.used" and {"process.rss", name, "app.items"} <= set(mon.metrics())
    with b.reserve("2MiB"):
        mon.sample()
    mon.sample()
    st = mon.metric(name)
    assert st.samples == 2 and st.peak == 2 * MiB and st.last == 0 and st.unit == "bytes"
    assert mon.metric("app.items").last == 7
    assert [v for _, v in mon.history(name)] == [2 * MiB, 0]
    text = mon.report()
    assert "budget.watched.used" in text
    data = json.loads(mon.report(format="json"))
    assert isinstance(data, dict) and mon.report_dict() and mon.stats().samples == 2
    with pytest.raises(memgov.NotFoundError):
        mon.metric("no.such")
    with pytest.raises(memgov.InvalidArgumentError):
        mon.report(format="xml")
    with pytest.raises(memgov.StateError):
        mon.add_metric("late", lambda: 1)  # only before the first sample
    b.destroy()


def test_alert_callback_runs_on_the_sampler_thread(gov):
    level = [0.0]
    mon = gov.monitor
    mon.add_metric("app.level", lambda: level[0], unit="ratio")
    rule = mon.add_alert("app.level", warning=0.5, critical=0.9)
    seen = []
    main = threading.get_ident()
    remove = mon.on_alert(lambda a: seen.append((a, threading.get_ident())))
    gov.config.set("monitor.interval", "10ms")
    level[0] = 0.95
    mon.start()
    try:
        assert mon.running
        assert wait_for(lambda: seen)
    finally:
        mon.stop()
    a, thread = seen[0]
    assert thread != main and a.level == "critical" and a.metric == "app.level" and a.rule == rule
    assert mon.alerts()[0].seq == a.seq
    remove()
    level[0] = 0.0
    mon.sample()
    assert len(seen) == 1 and mon.alerts()[-1].level == "clear"


def test_exceptions_in_sampler_thread_callbacks_are_contained(gov, callback_errors):
    mon = gov.monitor
    mon.add_metric("app.broken", lambda: 1 / 0)
    mon.add_metric("app.ok", lambda: 1.0)
    mon.add_alert("app.ok", warning=0.5, critical=2)
    mon.on_alert(lambda a: (_ for _ in ()).throw(RuntimeError("alert handler broke")))
    mon.start()
    try:
        assert wait_for(lambda: len(callback_errors) >= 2)
    finally:
        mon.stop()
    kinds = {type(e).__name__ for _, e in callback_errors}
    assert {"ZeroDivisionError", "RuntimeError"} <= kinds
    assert math.isnan(mon.metric("app.broken").last) and mon.metric("app.ok").last == 1.0


def test_standalone_monitor():
    with memgov.Monitor(interval=0.05) as mon:
        mon.sample()
        assert mon.stats().samples == 1 and mon.metric("process.rss").last > 0
    with pytest.raises(memgov.StateError):
        mon.sample()


def test_leak_check_sees_a_leak_and_no_leak(gov):
    b = gov.budget("leaky", hard="64MiB")
    kept = []

    def leak():
        with b.numpy():
            kept.append(np.ones(16 * 1024))  # 128 KiB per iteration, kept

    report = memgov.leak_check(leak, 10, budget=b)
    assert report.iterations == 10 and report.budget_per_iteration == pytest.approx(128 * 1024, rel=0.05)

    def clean():
        with b.numpy():
            np.ones(16 * 1024).sum()

    report = memgov.leak_check(clean, 10, budget=b)
    assert report.budget_per_iteration == pytest.approx(0, abs=1)
    assert report.rss_first > 0 and not math.isnan(report.rss_per_iteration)
    kept.clear()
    with pytest.raises(ValueError, match="boom"):
        memgov.leak_check(lambda: (_ for _ in ()).throw(ValueError("boom")), 3)
    with pytest.raises(memgov.InvalidArgumentError):
        memgov.leak_check(lambda: None, 1)
    b.destroy()


def test_modes_pinning_and_subscriptions(gov, callback_errors):
    fb = gov.fallback
    seen, emergencies = [], []
    unsub = fb.on_transition(seen.append)
    fb.on_emergency(emergencies.append)
    fb.on_transition(lambda t: 1 / 0)
    assert fb.mode == Mode.NORMAL and gov.mode is Mode.NORMAL
    fb.update(0.75)
    assert fb.mode == Mode.LIGHT
    fb.update(0.97)
    assert fb.mode == Mode.MINIMAL and emergencies == [pytest.approx(0.97)]
    fb.pin("normal")
    assert fb.mode == Mode.NORMAL and fb.stats().pinned
    fb.notify_refusal()
    assert fb.mode == Mode.NORMAL and fb.stats().refusals == 1
    fb.unpin()
    with pytest.raises(memgov.StateError):
        fb.unpin()
    fb.evaluate()
    assert [(t.from_mode, t.to_mode, t.reason) for t in seen] == [
        (Mode.NORMAL, Mode.LIGHT, "pressure"), (Mode.LIGHT, Mode.MINIMAL, "pressure"),
        (Mode.MINIMAL, Mode.NORMAL, "pin")]
    assert [t.seq for t in fb.history()] == [t.seq for t in seen]
    assert len(callback_errors) == 3
    unsub()
    unsub()
    fb.pin(Mode.LIGHT)
    assert len(seen) == 3
    fb.unpin()
    with pytest.raises(memgov.InvalidArgumentError):
        fb.pin("turbo")


def test_fallback_decorator_moves_normal_to_light_on_memory_error(gov):
    b = gov.budget("features", hard="4MiB")
    gov.config.set("batch.max", 1000)
    gov.config.set("batch.max", 100, mode="light")
    modes = []

    @gov.with_fallback(retries=2, backoff=0.001)
    def build(rows, mode):
        modes.append(mode)
        batch = gov.config["batch.max"]
        with b.numpy():
            return np.ones((rows, batch)).sum()  # 1000 x 1000 doubles = 8 MB > 4 MiB; 100 wide fits

    assert build(1000) == 1000 * 100
    assert modes == [Mode.NORMAL, Mode.LIGHT] and gov.mode == Mode.LIGHT
    last = gov.fallback.history()[-1]
    assert (last.from_mode, last.to_mode) == (Mode.NORMAL, Mode.LIGHT)
    b.destroy()


def test_run_with_fallback_gives_up_with_the_memory_error(gov):
    calls = []

    def always(mode):
        calls.append(mode)
        raise memgov.BudgetExceededError("budget 'x' refused everything", 2)

    with pytest.raises(memgov.BudgetExceededError, match="refused everything"):
        gov.run_with_fallback(always, retries=2, backoff=0.001)
    assert calls == [Mode.NORMAL, Mode.LIGHT, Mode.MINIMAL]


def test_run_with_fallback_other_exceptions_stop_at_once(gov):
    calls = []

    def broken(mode):
        calls.append(mode)
        raise KeyError("not a memory problem")

    with pytest.raises(KeyError):
        gov.run_with_fallback(broken, retries=3, backoff=0.001)
    assert calls == [Mode.NORMAL] and gov.mode == Mode.NORMAL
    assert gov.run_with_fallback(lambda mode: ("ok", mode)) == ("ok", Mode.NORMAL)
    with pytest.raises(memgov.RangeError):
        gov.run_with_fallback(lambda m: None, retries=99)
