#!/usr/bin/python3
"""memgov_monitor_report(JSON) is valid JSON whatever a metric's unit holds (issue 20's bug: units and names were
written unescaped). Loads libmemgov.so with ctypes, adds metrics whose units are hostile (quote, backslash,
control characters, invalid UTF-8), an alert on one and the leak watch on another, samples, and parses the
report with json.loads. usage: test_report_json.py LIBMEMGOV"""
import ctypes
import json
import sys
import unittest

LIB = ctypes.CDLL(sys.argv[1])
METRIC_FN = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p)


class AlertRule(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("metric", ctypes.c_char_p), ("warning", ctypes.c_double),
                ("critical", ctypes.c_double), ("below", ctypes.c_int32), ("escalate_after_ns", ctypes.c_uint64)]


LIB.memgov_monitor_create.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
LIB.memgov_monitor_add_metric.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, METRIC_FN,
                                          ctypes.c_void_p]
LIB.memgov_monitor_add_alert.argtypes = [ctypes.c_void_p, ctypes.POINTER(AlertRule), ctypes.c_void_p]
LIB.memgov_monitor_sample.argtypes = [ctypes.c_void_p]
LIB.memgov_monitor_report.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                                      ctypes.POINTER(ctypes.c_size_t)]
LIB.memgov_monitor_destroy.argtypes = [ctypes.c_void_p]
LIB.memgov_alert_rule_init.argtypes = [ctypes.POINTER(AlertRule)]
LIB.memgov_last_error.restype = ctypes.c_char_p

HOSTILE_UNITS = {
    "items": b'it"ems\\',
    "ctl": b"a\nb\tc\x01",
    "bytes8": b"\xff\xfe\xc3(",
}


class ReportJson(unittest.TestCase):
    def test_hostile_units_and_names_give_valid_json(self):
        mon = ctypes.c_void_p()
        self.assertEqual(LIB.memgov_monitor_create(None, ctypes.byref(mon)), 0, LIB.memgov_last_error())
        values = iter(range(1, 1000))
        fn = METRIC_FN(lambda ctx: float(next(values)))
        for name, unit in HOSTILE_UNITS.items():
            self.assertEqual(LIB.memgov_monitor_add_metric(mon, name.encode(), unit, fn, None), 0,
                             LIB.memgov_last_error())
        rule = AlertRule()
        LIB.memgov_alert_rule_init(ctypes.byref(rule))
        rule.metric = b"items"
        rule.warning, rule.critical = 1.0, 2.0
        self.assertEqual(LIB.memgov_monitor_add_alert(mon, ctypes.byref(rule), None), 0, LIB.memgov_last_error())
        for _ in range(3):
            self.assertEqual(LIB.memgov_monitor_sample(mon), 0, LIB.memgov_last_error())
        need = ctypes.c_size_t()
        LIB.memgov_monitor_report(mon, 1, None, 0, ctypes.byref(need))
        buf = ctypes.create_string_buffer(need.value + 1)
        self.assertEqual(LIB.memgov_monitor_report(mon, 1, buf, need.value + 1, None), 0, LIB.memgov_last_error())
        report = json.loads(buf.value.decode("utf-8"))  # strict: a raw 0xff or an unescaped quote fails here
        metrics = report["metrics"]
        self.assertEqual(metrics["items"]["unit"], 'it"ems\\')
        self.assertEqual(metrics["ctl"]["unit"], "a\nb\tc\x01")
        self.assertEqual(metrics["bytes8"]["unit"], "\ufffd\ufffd\ufffd(")
        self.assertGreaterEqual(metrics["items"]["samples"], 3)
        self.assertTrue(any(a["metric"] == "items" for a in report["alerts"]))
        self.assertEqual(report["leak"]["metric"], "process.rss")
        # a buffer one byte short is refused, and what it holds is a NUL-terminated prefix
        short = ctypes.create_string_buffer(need.value)
        self.assertEqual(LIB.memgov_monitor_report(mon, 1, short, need.value, None), 7)  # MEMGOV_ERANGE
        self.assertEqual(len(short.value), need.value - 1)
        LIB.memgov_monitor_destroy(mon)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
