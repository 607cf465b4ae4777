#!/usr/bin/python3
"""The monitor: a budget's use as a metric, an alert rule with a Python callback on the sampler thread, the
report, and leak_check() as a test would use it."""
import threading
import time

import numpy as np

import memgov

with memgov.Governor(limit="256MiB", env=False) as gov:
    cache = gov.budget("cache", hard="64MiB")
    mon = gov.monitor
    metric = mon.add_budget_metric(cache)
    mon.add_alert(metric, warning=16 << 20, critical=32 << 20)
    got = threading.Event()

    def on_alert(alert):
        print(f"alert on thread {threading.current_thread().name}: {alert.metric} {alert.previous} -> "
              f"{alert.level} at {alert.value / 2**20:.1f} MiB")
        if alert.level == "critical":
            got.set()

    mon.on_alert(on_alert)
    gov.config.set("monitor.interval", "20ms")
    mon.start()
    with cache.numpy():
        blocks = [np.ones(1 << 20) for _ in range(5)]  # 40 MiB
        got.wait(10)
    mon.stop()
    del blocks
    mon.sample()
    print(mon.report().splitlines()[0])
    assert got.is_set()

    kept = []
    with cache.numpy():
        report = memgov.leak_check(lambda: kept.append(np.ones(8192)), 20, budget=cache)
    print(f"leak_check: {report.budget_per_iteration:.0f} bytes per iteration kept in budget 'cache'")
    assert report.budget_per_iteration > 60000
    kept.clear()
    time.sleep(0)
    cache.destroy()
