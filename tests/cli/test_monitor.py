#!/usr/bin/python3
"""memgov monitor: runs a command, samples its whole process tree, passes its exit status through, prints the
summary and draws an SVG timeline that must agree with the summary. usage: test_monitor.py MEMGOV"""
import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

MEMGOV = sys.argv[1]
SVG = "{http://www.w3.org/2000/svg}"
MIB = 1 << 20

# A shell whose child (python3, a grandchild of memgov) grows to 40 MiB in 4 MiB steps, holds it, then the
# shell exits with 3: only sampling the whole tree sees the growth.
GROW = ("import time\na = []\nfor i in range(10):\n    a.append(bytearray(4 << 20))\n    time.sleep(0.03)\n"
        "time.sleep(0.3)\n")
WORKLOAD = ["sh", "-c", 'python3 -c "$0"; exit 3', GROW]


def run(*args):
    return subprocess.run([MEMGOV, "monitor", *args], capture_output=True, text=True, timeout=120)


class Monitor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.svg_path = os.path.join(cls.tmp.name, "timeline.svg")
        cls.result = run("--interval", "20", "--json", "--limit", "200M", "--svg", cls.svg_path, "--", *WORKLOAD)
        cls.summary = json.loads(cls.result.stderr)
        cls.svg = ET.parse(cls.svg_path).getroot()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_exit_status_of_the_command_passes_through(self):
        self.assertEqual(self.result.returncode, 3, self.result.stderr)
        self.assertEqual(run("--", "sh", "-c", "kill -9 $$").returncode, 128 + 9)
        self.assertEqual(run("--", "/nonexistent/command").returncode, 127)

    def test_the_json_summary_sees_the_growth_of_the_grandchild(self):
        rss = self.summary["metrics"]["process.rss"]
        self.assertEqual(rss["unit"], "bytes")
        self.assertGreaterEqual(rss["peak"], 40 * MIB)  # the 40 MiB of the grandchild, plus interpreters
        self.assertGreater(rss["samples"], 5)
        self.assertLessEqual(rss["min"], rss["average"])
        self.assertLessEqual(rss["average"], rss["peak"])
        self.assertIn("leak", self.summary)
        self.assertIsInstance(self.summary["alerts"], list)

    def points(self):
        line = self.svg.find(f"{SVG}polyline[@id='rss']")
        self.assertIsNotNone(line)
        return [tuple(map(float, p.split(","))) for p in line.get("points").split()]

    def test_the_svg_series_has_one_point_per_sample_in_time_order_inside_the_plot(self):
        pts = self.points()
        self.assertEqual(len(pts), self.summary["metrics"]["process.rss"]["samples"])
        xs = [x for x, _ in pts]
        self.assertEqual(xs, sorted(xs))
        self.assertEqual(len(set(xs)), len(xs))
        for x, y in pts:
            self.assertTrue(80 <= x <= 780 and 30 <= y <= 360, (x, y))
        # The series rises (SVG y points down) by the grandchild's 40 MiB, in bytes read off a threshold line's
        # scale; the last point may be low again (the shell alone, after python3 exited).
        line = self.svg.find(f"{SVG}line[@class='threshold']")
        pixels_per_byte = (360 - float(line.get("y1"))) / float(line.get("data-bytes"))
        self.assertGreaterEqual((pts[0][1] - min(y for _, y in pts)) / pixels_per_byte, 30 * MIB)

    def test_the_peak_line_marks_the_highest_point_of_the_series(self):
        peak = self.svg.find(f"{SVG}line[@id='peak']")
        self.assertEqual(float(peak.get("data-bytes")), round(self.summary["metrics"]["process.rss"]["peak"]))
        self.assertAlmostEqual(float(peak.get("y1")), min(y for _, y in self.points()), delta=0.01)

    def test_threshold_lines_sit_at_the_fallback_ratios_of_the_limit_above_the_peak(self):
        lines = self.svg.findall(f"{SVG}line[@class='threshold']")
        self.assertEqual([float(l.get("data-ratio")) for l in lines], [0.70, 0.85, 0.95])
        for l in lines:
            self.assertAlmostEqual(float(l.get("data-bytes")), float(l.get("data-ratio")) * 200 * MIB, delta=1)
        peak_y = float(self.svg.find(f"{SVG}line[@id='peak']").get("y1"))
        for l in lines:  # 140 MiB and more, well above a ~55 MiB peak
            self.assertLess(float(l.get("y1")), peak_y)

    def test_the_text_summary_is_the_default(self):
        r = run("--interval", "50", "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("memgov monitor summary", r.stderr)
        self.assertIn("process.rss", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_bad_arguments_are_usage_errors(self):
        for args, says in ((["--interval", "0", "--", "true"], "--interval"), (["--json"], "no command"),
                           (["--limit", "12Q", "--", "true"], "--limit"), (["--bogus", "--", "true"], "--bogus")):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(says, r.stderr)

    def test_help_after_the_double_dash_belongs_to_the_command(self):
        r = run("--", "sh", "-c", "exit 0", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("memgov monitor summary", r.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
