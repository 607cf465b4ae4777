#!/usr/bin/python3
"""The memgov command-line program: help, version, errors and the demo. usage: test_cli.py MEMGOV VERSION"""
import subprocess
import sys
import unittest

MEMGOV, VERSION = sys.argv[1], sys.argv[2]


def run(*args):
    return subprocess.run([MEMGOV, *args], capture_output=True, text=True, timeout=120)


class Cli(unittest.TestCase):
    def test_help_lists_every_command(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for name in ("version", "demo", "probe", "config", "monitor", "help"):
            self.assertIn(f"\n  {name} ", r.stdout)

    def test_no_arguments_is_a_usage_error(self):
        r = run()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage:", r.stderr)

    def test_unknown_command_is_a_usage_error_that_names_it(self):
        r = run("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'frobnicate'", r.stderr)

    def test_version_prints_the_library_version_and_jemalloc(self):
        for args in (("version",), ("--version",)):
            r = run(*args)
            self.assertEqual(r.returncode, 0)
            self.assertTrue(r.stdout.startswith(f"memgov {VERSION}\n"))
            self.assertIn("jemalloc=5.3.0", r.stdout)

    def test_a_command_with_a_stray_argument_is_refused(self):
        r = run("version", "extra")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'extra'", r.stderr)

    def test_help_for_a_command_shows_its_usage(self):
        r = run("help", "demo")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: memgov demo", r.stdout)
        self.assertEqual(run("demo", "--help").stdout, r.stdout)

    def test_demo_runs_to_its_end(self):
        r = run("demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("jemalloc", r.stdout)
        self.assertIn("demo finished", r.stdout)

    def test_demo_shows_a_refusal_a_reclaim_and_the_budget_table(self):
        r = run("demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("budget 'model' refused 20.0 MiB requested on its descendant 'weights'", r.stdout)
        self.assertIn("hard limit of 40.0 MiB", r.stdout)
        self.assertIn("the cache callback frees", r.stdout)
        self.assertIn("the retry succeeded", r.stdout)
        table = r.stdout.split("the retry succeeded", 1)[1]
        for name in ("root", "model", "weights", "cache"):
            self.assertIn(name, table)

    def test_demo_walks_the_fallback_modes_down_and_back(self):
        r = run("demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.split("== fallback", 1)[1]
        switches = [line.split("switch ", 1)[1].split(":", 1)[0] for line in out.splitlines() if " switch " in line]
        self.assertEqual([s.split(" (")[0] for s in switches], [
            "normal -> light", "light -> minimal",     # pressure rises
            "minimal -> light", "light -> normal",     # recovery, one mode at a time
            "normal -> light",                         # the refused batch
            "light -> normal"])                        # recovery after the batch
        self.assertIn("(refusal,", switches[4])
        self.assertEqual(out.count("EMERGENCY"), 1)
        self.assertIn("refused: budget 'root' refused", out)
        self.assertIn("memgov_run_with_fallback: MEMGOV_OK after 2 attempt(s)", out)
        self.assertIn("summary: 6 transitions, 1 refusal(s), 1 emergency", out)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
