"""The monitor: memory metrics sampled on its own thread or on demand, history, peaks, trends, alerts with
Python callbacks, reports; and leak_check() for tests."""
from __future__ import annotations

import ctypes
import dataclasses
import json
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _lib
from ._lib import LIB
from ._part import Part
from .budget import Budget, report_callback_error
from .errors import InvalidArgumentError, check

LEVELS = {0: "clear", 1: "warning", 2: "critical"}


@dataclasses.dataclass(frozen=True)
class MetricStats:
    """What the monitor knows of one metric: samples with a value, last, average, min, peak (NaN if none), the
    clock at the peak (ns), the least-squares trend per second over the trend window, and the unit."""
    samples: int
    last: float
    average: float
    min: float
    peak: float
    peak_time_ns: int
    trend_per_s: float
    unit: str


@dataclasses.dataclass(frozen=True)
class MonitorStats:
    """The monitor's state: samples taken and kept, first and last sample time (ns), metrics, running, whether a
    leak is suspected and the leak metric's trend per second, alerts raised."""
    samples: int
    samples_kept: int
    first_time_ns: int
    last_time_ns: int
    metrics: int
    running: bool
    leak_suspected: bool
    leak_trend_per_s: float
    alerts: int


@dataclasses.dataclass(frozen=True)
class Alert:
    """An alert: sequence number, time (ns), the rule's id, the metric, the new and previous level ("clear",
    "warning", "critical"), the sample's value, the threshold crossed, and whether it was escalated."""
    seq: int
    time_ns: int
    rule: int
    metric: str
    level: str
    previous: str
    value: float
    threshold: float
    escalated: bool


@dataclasses.dataclass(frozen=True)
class LeakReport:
    """What leak_check() measured: iterations, the growth per iteration (least-squares slope) of the process RSS
    and of the budget's use (NaN without a budget), and the RSS after the first and the last iteration."""
    iterations: int
    rss_per_iteration: float
    budget_per_iteration: float
    rss_first: float
    rss_last: float


def _alert(a: Any) -> Alert:
    return Alert(int(a.seq), int(a.time_ns), int(a.rule), _lib.text(a.metric), LEVELS.get(a.level, str(a.level)),
                 LEVELS.get(a.previous, str(a.previous)), float(a.value), float(a.threshold), bool(a.escalated))


class Monitor(Part):
    """A monitor: ``gov.monitor`` (the governor's, with budget.root.used, budget.root.limit and
    fallback.pressure besides the built-in metrics) or ``Monitor(interval=...)`` standalone (close() it).

    Python callbacks (metrics, alerts) run on the sampling thread — the sampler thread after start() — with the
    GIL taken; an exception is reported through the callback error hook and never reaches C."""

    _what = "monitor"

    def __init__(self, handle: Optional[int] = None, gstate: Any = None, interval: float = 1.0,
                 history: int = 0, trend_window: float = 0.0, leak_slope: float = 0.0,
                 proc_root: Optional[str] = None) -> None:
        owned = handle is None
        if handle is None:
            o = _lib.MonitorOptions.new()
            LIB.memgov_monitor_options_init(ctypes.byref(o))
            o.interval_ns = int(interval * 1e9)
            o.history_capacity = history
            o.trend_window_ns = int(trend_window * 1e9)
            o.leak_slope = leak_slope
            if proc_root is not None:
                o.proc_root = proc_root.encode()
            h = ctypes.c_void_p()
            check(LIB.memgov_monitor_create(ctypes.byref(o), ctypes.byref(h)))
            handle = h.value or 0
        super().__init__(handle, gstate, owned, LIB.memgov_monitor_destroy)
        self._alert_muted: Dict[int, bool] = {}

    # -- sampling ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Starts the sampler thread (a sample at once, then one per interval); StateError if running."""
        check(LIB.memgov_monitor_start(self._check()))
        if self._g is not None:
            self._g.monitor_running_by_us = True

    def stop(self) -> None:
        """Stops the sampler thread and waits for its sample; StateError if not running or from a callback."""
        check(LIB.memgov_monitor_stop(self._check()))

    @property
    def running(self) -> bool:
        """True while the sampler thread runs."""
        return self.stats().running

    def sample(self) -> None:
        """Takes one sample now on this thread (metric and alert callbacks run here)."""
        check(LIB.memgov_monitor_sample(self._check()))

    def add_metric(self, name: str, fn: Callable[[], float], unit: str = "bytes") -> None:
        """Adds a metric read by calling fn() at each sample (on the sampling thread); return a number, or None /
        NaN for unknown. Only before the first sample (StateError after). Names: [A-Za-z0-9._-], 63 bytes."""
        h = self._check()

        def call(ctx: Any) -> float:
            try:
                v = fn()
                return math.nan if v is None else float(v)
            except BaseException as e:  # noqa: BLE001
                report_callback_error(f"metric '{name}'", e)
                return math.nan

        cfunc = _lib.METRIC_FN(call)
        check(LIB.memgov_monitor_add_metric(h, name.encode(), unit.encode(), cfunc, None))
        self._keep_ref(cfunc)

    def add_budget_metric(self, budget: Budget, name: Optional[str] = None) -> str:
        """Adds a metric with the budget's use in bytes (default name "budget.<name>.used"); returns the name."""
        metric = name or f"budget.{budget.name}.used"
        self.add_metric(metric, lambda: budget.stats().used if not budget.closed else None, "bytes")
        return metric

    # -- reading ----------------------------------------------------------------------------------------------
    def metrics(self) -> List[str]:
        """The metric names: built-ins first, then added ones."""
        h = self._check()
        out = []
        while True:
            n = LIB.memgov_monitor_metric_name(h, len(out))
            if n is None:
                return out
            out.append(_lib.text(n))

    def metric(self, name: str) -> MetricStats:
        """Statistics of one metric; NotFoundError for an unknown name."""
        s = _lib.MetricStats.new()
        check(_lib.monitor_get_metric_stats(self._check(), name.encode(), ctypes.byref(s)))
        return MetricStats(int(s.samples), s.last, s.average, s.min, s.peak, int(s.peak_time_ns), s.trend_per_s,
                           _lib.text(s.unit))

    def history(self, name: str) -> List[Tuple[int, float]]:
        """The kept samples of a metric, oldest first: (clock ns, value; NaN if unknown)."""
        h = self._check()
        out = []
        t, v = ctypes.c_uint64(), ctypes.c_double()
        while LIB.memgov_monitor_history(h, name.encode(), len(out), ctypes.byref(t), ctypes.byref(v)) == 0:
            out.append((int(t.value), float(v.value)))
        if not out:
            self.metric(name)  # raises NotFoundError for an unknown metric
        return out

    def stats(self) -> MonitorStats:
        """The monitor's state."""
        s = _lib.MonitorStats.new()
        check(LIB.memgov_monitor_get_stats(self._check(), ctypes.byref(s)))
        return MonitorStats(int(s.samples), int(s.samples_kept), int(s.first_time_ns), int(s.last_time_ns),
                            int(s.metrics), bool(s.running), bool(s.leak_suspected), s.leak_trend_per_s,
                            int(s.alerts))

    def report(self, format: str = "text") -> str:
        """The summary (duration, samples, per-metric last/average/min/peak/trend, leak suspicion, alerts) as
        "text" or "json" (one JSON object; see report_dict())."""
        fmt = {"text": _lib.REPORT_TEXT, "json": _lib.REPORT_JSON}.get(format)
        if fmt is None:
            raise InvalidArgumentError(f"report: format '{format}' is not 'text' or 'json'")
        h = self._check()
        need = ctypes.c_size_t()
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            st = LIB.memgov_monitor_report(h, fmt, buf, size, ctypes.byref(need))
            if st == 7 and need.value + 1 > size:  # MEMGOV_ERANGE: cut
                size = need.value + 1
                continue
            check(st)
            return _lib.text(buf.value)

    def report_dict(self) -> Dict[str, Any]:
        """The JSON report, parsed."""
        return dict(json.loads(self.report("json")))

    # -- alerts -----------------------------------------------------------------------------------------------
    def add_alert(self, metric: str, warning: float, critical: float, below: bool = False,
                  escalate_after: float = 0.0) -> int:
        """Adds a threshold rule on a metric: a value at or beyond `warning` / `critical` (>=, or <= with
        below=True) raises an alert when the level changes; a warning lasting escalate_after seconds becomes
        critical. Returns the rule's id."""
        r = _lib.AlertRule.new()
        LIB.memgov_alert_rule_init(ctypes.byref(r))
        r.metric, r.warning, r.critical = metric.encode(), float(warning), float(critical)
        r.below, r.escalate_after_ns = int(bool(below)), int(escalate_after * 1e9)
        out = ctypes.c_uint32()
        check(LIB.memgov_monitor_add_alert(self._check(), ctypes.byref(r), ctypes.byref(out)))
        return int(out.value)

    def on_alert(self, fn: Callable[[Alert], None]) -> Callable[[], None]:
        """Calls fn(Alert) for each alert raised from now on, on the sampling thread. Exceptions go to the
        callback error hook. Returns a function that removes it (with a library that cannot remove alert
        listeners, it mutes the Python callback instead)."""
        h = self._check()
        key = len(self._alert_muted)
        self._alert_muted[key] = False

        def call(a: Any) -> None:
            if self._alert_muted.get(key, True):
                return
            try:
                fn(_alert(a))
            except BaseException as e:  # noqa: BLE001
                report_callback_error("alert listener", e)

        token, cfunc = _lib.monitor_add_alert_listener(h, call)
        self._keep_ref(cfunc)

        def remove() -> None:
            if self._alert_muted.get(key):
                return
            self._alert_muted[key] = True
            if not self._closed and not (self._g is not None and self._g.closed):
                check(_lib.monitor_remove_alert_listener(h, token))
        return remove

    def alerts(self) -> List[Alert]:
        """The kept alerts, oldest first."""
        h = self._check()
        out = []
        while True:
            a = _lib.Alert.new()
            if LIB.memgov_monitor_alert_history(h, len(out), ctypes.byref(a)) != 0:
                return out
            out.append(_alert(a))

    def __repr__(self) -> str:
        return "<memgov.Monitor (closed)>" if self._closed else f"<memgov.Monitor samples={self.stats().samples}>"


def leak_check(fn: Callable[[], Any], iterations: int = 20, budget: Optional[Budget] = None) -> LeakReport:
    """Runs fn() `iterations` times on this thread, sampling after each, and returns the growth per iteration
    of the process RSS and (with `budget`) of the budget's use, by least squares. An exception from fn stops the
    run and is re-raised. For pytest::

        report = memgov.leak_check(lambda: model.predict(x), 50, budget=b)
        assert report.budget_per_iteration < 1024
    """
    if iterations < 2:
        raise InvalidArgumentError(f"leak_check: iterations={iterations}: at least 2")
    failure: List[BaseException] = []
    with Monitor(interval=1.0, history=max(16, iterations + 1)) as mon:
        metric = None
        if budget is not None:
            metric = mon.add_budget_metric(budget, "leak_check.budget")

        def call(i: int, user: Any) -> None:
            if failure:
                return
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - re-raised after the C call returns
                failure.append(e)

        cfunc = _lib.LEAK_FN(call)
        out = _lib.LeakReport.new()
        st = LIB.memgov_monitor_leak_check(mon._h, cfunc, None, iterations,
                                           None if metric is None else metric.encode(), ctypes.byref(out))
    if failure:
        raise failure[0]
    check(st)
    return LeakReport(int(out.iterations), out.rss_per_iteration, out.metric_per_iteration, out.rss_first,
                      out.rss_last)
