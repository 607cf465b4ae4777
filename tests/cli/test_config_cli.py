#!/usr/bin/python3
"""memgov probe and memgov config: JSON output, fixture roots, validation exit statuses, and docs/config.md
listing every registered key with its default. usage: test_config_cli.py MEMGOV SOURCE_ROOT"""
import json
import os
import re
import subprocess
import sys
import unittest

MEMGOV, SRC = sys.argv[1], sys.argv[2]
FIXTURES = os.path.join(SRC, "tests", "fixtures", "probe")
CONFIGS = os.path.join(SRC, "tests", "cli", "configs")


def run(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MEMGOV_")}
    e.update(env or {})
    return subprocess.run([MEMGOV, *args], capture_output=True, text=True, timeout=120, env=e)


class Probe(unittest.TestCase):
    def test_json_on_the_real_machine_is_consistent(self):
        r = run("probe", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        p = json.loads(r.stdout)
        self.assertGreater(p["ram_total"], 0)
        self.assertLessEqual(p["effective_memory"], p["ram_total"])
        self.assertGreaterEqual(p["usable_cpus"], 1)
        self.assertGreaterEqual(p["logical_cpus"], p["physical_cores"])

    def test_a_512_mib_container_root_gives_512_mib_effective_memory(self):
        r = run("probe", "--json", "--root", os.path.join(FIXTURES, "container-512m"))
        self.assertEqual(r.returncode, 0, r.stderr)
        p = json.loads(r.stdout)
        self.assertEqual(p["ram_total"], 64 << 30)
        self.assertEqual(p["effective_memory"], 512 << 20)
        self.assertEqual(p["cgroup_memory_high"], "max")
        self.assertEqual(p["usable_cpus"], 2)

    def test_an_empty_root_is_unknown_not_a_failure(self):
        r = run("probe", "--json", "--root", os.path.join(FIXTURES, "empty"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNone(json.loads(r.stdout)["effective_memory"])

    def test_text_output_names_the_effective_memory(self):
        r = run("probe", "--root", os.path.join(FIXTURES, "cgroup1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"effective_memory\s+2\.00 GiB")

    def test_a_stray_argument_is_a_usage_error(self):
        self.assertEqual(run("probe", "--bogus").returncode, 2)


class Config(unittest.TestCase):
    def show(self, *args, env=None):
        r = run("config", "show", "--json", *args, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        return doc, {k["key"]: k for k in doc["keys"]}

    def test_show_json_has_defaults_with_sources(self):
        doc, keys = self.show()
        self.assertEqual(doc["mode"], "normal")
        self.assertEqual(keys["root.limit"]["value"], "90%")
        self.assertEqual(keys["root.limit"]["source"], "default")
        self.assertEqual(keys["root.limit"]["bytes"], doc["effective_memory"] * 9 // 10)

    def test_environment_overrides_the_file(self):
        _, keys = self.show("--file", os.path.join(CONFIGS, "good.ini"), env={"MEMGOV_ROOT_LIMIT": "1GiB"})
        self.assertEqual(keys["root.limit"]["value"], "1GiB")
        self.assertEqual(keys["root.limit"]["where"], "env MEMGOV_ROOT_LIMIT")
        self.assertEqual(keys["monitor.interval"]["where"], os.path.join(CONFIGS, "good.ini") + ":4")
        self.assertEqual(keys["batch.max"]["overlays"]["minimal"]["value"], "8")

    def test_validate_a_good_file_exits_0(self):
        r = run("config", "validate", os.path.join(CONFIGS, "good.ini"), "--strict")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("valid (0 errors", r.stdout)

    def test_validate_non_strict_corrects_and_strict_refuses(self):
        path = os.path.join(CONFIGS, "clamped.ini")
        r = run("config", "validate", path)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn(f"corrected: {path}:2: key 'root.limit' value '150%'", r.stdout)
        self.assertIn("did you mean 'batch.max'?", r.stdout)
        r = run("config", "validate", path, "--strict")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"error: {path}:2: key 'root.limit' value '150%' is above its maximum 100%", r.stdout)

    def test_validate_a_missing_file_exits_1(self):
        r = run("config", "validate", os.path.join(CONFIGS, "nope.ini"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.ini", r.stderr)

    def test_config_without_subcommand_is_a_usage_error(self):
        self.assertEqual(run("config").returncode, 2)
        self.assertEqual(run("config", "frob").returncode, 2)

    def test_docs_config_md_lists_every_key_with_its_type_and_default(self):
        _, keys = self.show()
        with open(os.path.join(SRC, "docs", "config.md"), encoding="utf-8") as f:
            rows = {}
            for line in f:
                m = re.match(r"\| `([^`]+)` \| (\w+) \| `([^`]*)` \|", line)
                if m:
                    rows[m.group(1)] = (m.group(2), m.group(3))
        self.assertEqual(set(rows), set(keys), "docs/config.md and the registry list different keys")
        for name, k in keys.items():
            self.assertEqual(rows[name], (k["type"], k["default"]), name)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
