#!/usr/bin/python3
"""Hostile input to the memgov CLI (issue 19): every reproducer of the issue and every unclear message, run as a
user would run them. Each subprocess has a timeout, so a hang fails the test instead of blocking the suite.
usage: test_hostile.py MEMGOV"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

MEMGOV = sys.argv[1]


def run(*args, env=None, timeout=30):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MEMGOV_")}
    e.update(env or {})
    return subprocess.run([MEMGOV, *args], capture_output=True, timeout=timeout, env=e)


def out(r):
    return r.stdout.decode("utf-8", "replace")


def err(r):
    return r.stderr.decode("utf-8", "replace")


class Scratch(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name, text=None):
        p = os.path.join(self.dir, name)
        if text is not None:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(text.encode() if isinstance(text, str) else text)
        return p


class ConfigFiles(Scratch):
    def test_item1_ten_thousand_duplicates_are_linear_one_warning_each(self):
        p = self.path("d.ini", "batch.max = 5\n" * 10000)
        t = time.monotonic()
        r = run("config", "validate", p, timeout=20)
        self.assertLess(time.monotonic() - t, 10)  # generous: linear work is milliseconds; quadratic took > 10 s
        self.assertEqual(r.returncode, 0, err(r))
        self.assertIn("valid (0 errors, 9999 warnings, 0 corrections)", out(r))
        self.assertEqual(out(r).count("(first set at %s:1)" % p), 9999)

    def test_item2_a_fifo_is_refused_not_waited_on(self):
        f = self.path("f")
        os.mkfifo(f)
        r = run("config", "validate", f, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a FIFO", err(r))
        r = run("config", "show", "--file", f, timeout=10)
        self.assertEqual(r.returncode, 1)
        r = run("demo", env={"MEMGOV_CONFIG_FILE": f}, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is a FIFO", out(r) + err(r))

    def test_item3_dev_zero_and_files_above_the_cap_are_refused_with_the_limit(self):
        r = run("config", "validate", "/dev/zero", timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("character device", err(r))
        big = self.path("big.ini", "#" * (1024 * 1024) + "\n")
        r = run("config", "validate", big, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("1048577 bytes, above the limit of 1048576 bytes (1 MiB, MEMGOV_CONFIG_FILE_MAX)", err(r))
        r = run("config", "show", env={"MEMGOV_CONFIG_FILE": "/dev/zero"}, timeout=10)
        self.assertEqual(r.returncode, 1)

    def test_unclear_a_directory_says_eisdir_and_a_missing_file_is_not_invalid_with_0_errors(self):
        r = run("config", "validate", self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("EISDIR", err(r))
        r = run("config", "validate", self.path("missing.ini"))
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("invalid (0 errors", out(r))
        self.assertIn("cannot be read (MEMGOV_ENOTFOUND)", out(r))
        self.assertIn("No such file", err(r))

    def test_unclear_a_bom_an_unknown_mode_and_a_tiny_percentage(self):
        p = self.path("m.ini", b"\xef\xbb\xbfbatch.max = 5\n[mode.lite]\nbatch.max = 2\n[mode.light]\nbatch.mxx = 3\n")
        r = run("config", "validate", p)
        self.assertIn("byte-order mark", out(r))
        self.assertIn("unknown mode 'lite' in section [mode.lite]", out(r))
        self.assertIn("did you mean [mode.light]?", out(r))
        self.assertIn("unknown key 'batch.mxx' in [mode.light] ignored (did you mean 'batch.max'?)", out(r))
        p = self.path("p.ini", "root.limit = 1e-400%\n")
        r = run("config", "validate", p)
        self.assertIn("too small", out(r))
        self.assertNotIn("too large", out(r))

    def test_unclear_out_of_order_thresholds_name_their_source_and_clamp(self):
        p = self.path("b.ini", "fallback.light_enter = 5\n")
        r = run("demo", env={"MEMGOV_CONFIG_FILE": p}, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("fallback.light_enter = 1 (%s:1: clamped from 5 to the maximum 1)" % p, out(r) + err(r))


class ConfigShow(Scratch):
    def test_item9_show_fails_on_a_missing_or_invalid_file(self):
        r = run("config", "show", "--file", self.path("missing.ini"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(out(r), "")
        bad = self.path("bad.ini", "root.limit = lots\n")
        r = run("config", "show", "--file", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.ini:1: key 'root.limit' value 'lots'", err(r))

    def test_item9_show_reads_memgov_config_file_and_does_not_call_it_an_unknown_key(self):
        p = self.path("c.ini", "batch.max = 77\n")
        r = run("config", "show", "--json", env={"MEMGOV_CONFIG_FILE": p})
        self.assertEqual(r.returncode, 0, err(r))
        keys = {k["key"]: k for k in json.loads(out(r))["keys"]}
        self.assertEqual(keys["batch.max"]["value"], "77")
        self.assertEqual(keys["batch.max"]["where"], p + ":1")
        self.assertNotIn("MEMGOV_CONFIG_FILE", err(r))
        r = run("config", "show", "--file=" + p)  # --opt=value (getopt_long)
        self.assertEqual(r.returncode, 0, err(r))
        self.assertRegex(out(r), r"batch\.max = 77 ")

    def test_item8_show_prints_clamps_and_typos_of_the_environment(self):
        r = run("config", "show", env={"MEMGOV_ROOT_LIMIT": "0", "MEMGOV_ROOT_LIMT": "1GiB"})
        self.assertEqual(r.returncode, 0, err(r))
        self.assertIn("corrected: env MEMGOV_ROOT_LIMIT: key 'root.limit' value '0' is below its minimum; "
                      "corrected to 1MiB", err(r))
        self.assertIn("unknown key 'MEMGOV_ROOT_LIMT' ignored (did you mean 'MEMGOV_ROOT_LIMIT'?)", err(r))

    def test_item8_a_program_using_the_default_governor_hears_its_warnings_on_stderr(self):
        r = run("demo", env={"MEMGOV_ROOT_LIMT": "1GiB"}, timeout=60)
        self.assertIn("did you mean 'MEMGOV_ROOT_LIMIT'?", err(r))

    def test_item10_json_stays_valid_with_invalid_utf8_and_text_escapes_newlines(self):
        env = {"MEMGOV_MEMMAP_DIR": "/tmp/\udcff\udcfe\nroot.limit = 1MiB"}
        e = {k: v for k, v in os.environ.items() if not k.startswith("MEMGOV_")}
        eb = {k.encode(): v.encode() for k, v in e.items()}
        eb[b"MEMGOV_MEMMAP_DIR"] = b"/tmp/\xff\xfe\nroot.limit = 1MiB\x01"
        r = subprocess.run([MEMGOV, "config", "show", "--json"], capture_output=True, env=eb, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout.decode("utf-8"))  # strict UTF-8: raises on a raw 0xff
        keys = {k["key"]: k for k in doc["keys"]}
        self.assertEqual(keys["memmap.dir"]["value"], "/tmp/\ufffd\ufffd\nroot.limit = 1MiB\x01")
        r = subprocess.run([MEMGOV, "config", "show"], capture_output=True, env=eb, timeout=30)
        text = r.stdout.decode("utf-8", "replace")
        self.assertEqual(len(re.findall(r"^root\.limit = ", text, re.M)), 1)
        self.assertIn("memmap.dir = /tmp/\ufffd\ufffd\\nroot.limit = 1MiB\\x01  # from env MEMGOV_MEMMAP_DIR", text)
        del env


class Probe(Scratch):
    def test_item2_a_fifo_as_proc_meminfo_is_refused_not_waited_on(self):
        os.makedirs(self.path("proc/self"))
        os.mkfifo(self.path("proc/meminfo"))
        self.path("proc/self/cgroup", "0::/\n")
        r = run("probe", "--json", "--root", self.dir, timeout=10)
        self.assertEqual(r.returncode, 0, err(r))
        p = json.loads(out(r))
        self.assertIsNone(p["ram_total"])
        self.assertIn("/proc/meminfo: not a regular file", p["rejected_why"])
        self.assertIn("refused", err(r))

    def test_item6_memory_max_0_is_a_limit_not_unknown(self):
        self.path("proc/meminfo", "MemTotal: 1048576 kB\n")
        self.path("proc/self/cgroup", "0::/app\n")
        self.path("sys/fs/cgroup/cgroup.controllers", "memory\n")
        self.path("sys/fs/cgroup/app/memory.max", "0\n")
        r = run("probe", "--json", "--root", self.dir)
        p = json.loads(out(r))
        self.assertEqual(p["cgroup_memory_max"], 0)
        self.assertEqual(p["effective_memory"], 0)
        r = run("probe", "--root", self.dir)
        self.assertRegex(out(r), r"cgroup_memory_max\s+0 B")

    def test_item6_junk_is_unknown_with_the_reason(self):
        self.path("proc/meminfo", "MemTotal: 12abc kB\n")
        r = run("probe", "--json", "--root", self.dir)
        p = json.loads(out(r))
        self.assertIsNone(p["ram_total"])
        self.assertIn("/proc/meminfo MemTotal: not a number", p["rejected_why"])

    def test_unclear_a_missing_root_is_an_error(self):
        r = run("probe", "--root", self.path("nonexistent"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file or directory", err(r))

    def test_options_need_values_uniformly(self):
        for args, opt in ((["probe", "--root"], "--root"), (["monitor", "--limit"], "--limit"),
                          (["config", "show", "--file"], "--file"), (["probe", "--dir"], "--dir")):
            r = run(*args)
            self.assertEqual(r.returncode, 2)
            self.assertIn("%s needs a value" % opt, err(r))
        r = run("probe", "--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option '--bogus'", err(r))


class Monitor(Scratch):
    def test_item7_a_negative_limit_is_refused(self):
        r = run("monitor", "--limit", " -1", "--", "true")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--limit: ' -1'", err(r))
        r = run("monitor", "--limit", "-1", "--", "true")
        self.assertEqual(r.returncode, 2)

    def test_one_size_parser_the_limit_takes_the_configuration_syntax(self):
        svg = self.path("t.svg")
        for limit, ratio_bytes in (("1.5G", 1.5 * (1 << 30)), ("2GiB", 2 * (1 << 30)), ("3GB", 3e9)):
            r = run("monitor", "--limit=" + limit, "--svg", svg, "--", "true")
            self.assertEqual(r.returncode, 0, err(r))
            lines = ET.parse(svg).getroot().findall("{http://www.w3.org/2000/svg}line[@class='threshold']")
            self.assertAlmostEqual(float(lines[0].get("data-bytes")), 0.70 * ratio_bytes, delta=1)
        r = run("monitor", "--limit", "50%", "--", "true")
        self.assertEqual(r.returncode, 0, err(r))

    def test_item7_a_huge_limit_labels_the_axis_with_its_size(self):
        svg = self.path("h.svg")
        r = run("monitor", "--limit", "16777215T", "--svg", svg, "--", "true")
        self.assertEqual(r.returncode, 0, err(r))
        labels = [t.text for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text")]
        self.assertIn("16.0 EiB", labels)
        self.assertNotIn("0 B", labels)

    def test_the_thresholds_come_from_the_configuration(self):
        svg = self.path("c.svg")
        r = run("monitor", "--limit", "1G", "--svg", svg, "--", "true",
                env={"MEMGOV_FALLBACK_LIGHT_ENTER": "0.5"})
        self.assertEqual(r.returncode, 0, err(r))
        lines = ET.parse(svg).getroot().findall("{http://www.w3.org/2000/svg}line[@class='threshold']")
        self.assertEqual([float(l.get("data-ratio")) for l in lines], [0.50, 0.85, 0.95])

    def test_unclear_a_non_executable_command_exits_126_and_a_missing_one_127(self):
        p = self.path("noexec", "#!/bin/sh\necho hi\n")
        r = run("monitor", "--", p)
        self.assertEqual(r.returncode, 126)
        self.assertIn("Permission denied", err(r))
        r = run("monitor", "--", self.path("missing"))
        self.assertEqual(r.returncode, 127)

    def test_unclear_svg_into_a_missing_directory_fails_before_the_run(self):
        marker = self.path("ran")
        r = run("monitor", "--svg", self.path("no/such/dir/t.svg"), "--", "touch", marker)
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not exist", err(r))
        self.assertFalse(os.path.exists(marker))

    def test_unclear_the_leak_line_gives_the_time_the_samples_cover(self):
        r = run("monitor", "--interval", "20", "--", "sleep", "0.2")
        self.assertEqual(r.returncode, 0, err(r))
        m = re.search(r"leak .* over ([0-9.]+) s of a 60 s window", err(r))
        self.assertIsNotNone(m, err(r))
        self.assertLess(float(m.group(1)), 5)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
