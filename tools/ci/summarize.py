#!/usr/bin/python3
"""Sums Meson's test results over one or more build directories (meson-logs/testlog.json) and prints one line
per build and the closing line `N passed, N failed, N skipped`. Exit status 1 if any test failed, timed out or
passed unexpectedly, or if a build ran no test at all.

usage: summarize.py BUILD_DIR [BUILD_DIR ...]
"""
import json
import pathlib
import sys

PASSED = {"OK", "EXPECTEDFAIL"}
SKIPPED = {"SKIP"}


def main(dirs):
    total_pass = total_fail = total_skip = 0
    bad = False
    for d in dirs:
        log = pathlib.Path(d) / "meson-logs" / "testlog.json"
        p = f = s = 0
        failed_names = []
        if log.exists():
            for line in log.read_text().splitlines():
                if not line.strip():
                    continue
                r = json.loads(line)
                if r["result"] in PASSED:
                    p += 1
                elif r["result"] in SKIPPED:
                    s += 1
                else:
                    f += 1
                    failed_names.append(f"{r['name']} ({r['result']})")
        if p + f + s == 0:
            print(f"{d}: no test results (testlog.json missing or empty)")
            f += 1
            failed_names.append("(no tests ran)")
        print(f"{d}: {p} passed, {f} failed, {s} skipped" + (": " + ", ".join(failed_names) if failed_names else ""))
        total_pass, total_fail, total_skip = total_pass + p, total_fail + f, total_skip + s
        bad = bad or f > 0
    print(f"{total_pass} passed, {total_fail} failed, {total_skip} skipped")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
