#!/usr/bin/python3
"""Proves that check_exports.py's tier rules can fail: builds a two-function stand-in for libmemgov.so (one
function in a stable header, one in a header marked MEMGOV_EXPERIMENTAL_HEADER) with several version scripts and
expects the check to pass on the right one and to name the function on each wrong one.

usage: check_exports_selftest.py CHECK_EXPORTS_PY [CC]
"""
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

STABLE_H = """/* memgov/stable.h: a stable-tier header. It may mention MEMGOV_EXPERIMENTAL_HEADER in running text. */
MEMGOV_API int memgov_stable_fn(void);
"""
EXPERIMENTAL_H = """/*
 * memgov/exp.h
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 */
MEMGOV_API int memgov_exp_fn(int x);
"""
SOURCE = """__attribute__((visibility("default"))) int memgov_stable_fn(void) { return 1; }
__attribute__((visibility("default"))) int memgov_exp_fn(int x) { return x; }
"""
STABLE_NODE = "MEMGOV_1.0 {\n  global:\n    memgov_*;\n  local:\n    *;\n};\n"

# (name, experimental node body, expected exit status, texts the output must contain)
CASES = [
    ("right tiers", "  global:\n    memgov_exp_fn;\n", 0, ["1 stable, 1 experimental"]),
    ("experimental function left in MEMGOV_1.0", "", 1,
     ["experimental-tier functions not exported under MEMGOV_EXPERIMENTAL", "memgov_exp_fn (memgov/exp.h)"]),
    ("stable function listed as experimental", "  global:\n    memgov_exp_fn;\n    memgov_stable_fn;\n", 1,
     ["stable-tier functions not exported under a MEMGOV_1.x node", "memgov_stable_fn (memgov/stable.h)",
      "not declared in an experimental header: memgov_stable_fn"]),
    ("a listed name that no experimental header declares", "  global:\n    memgov_exp_fn;\n    memgov_gone;\n", 1,
     ["not declared in an experimental header: memgov_gone"]),
]


def main():
    check = sys.argv[1]
    cc = shlex.split(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CC", "cc"))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "include" / "memgov").mkdir(parents=True)
        (tmp / "include" / "memgov" / "stable.h").write_text(STABLE_H)
        (tmp / "include" / "memgov" / "exp.h").write_text(EXPERIMENTAL_H)
        (tmp / "lib.c").write_text(SOURCE)
        for i, (name, body, want_rc, want_texts) in enumerate(CASES):
            vmap = tmp / f"case{i}.map"
            vmap.write_text(STABLE_NODE + "\nMEMGOV_EXPERIMENTAL {\n" + body + "} MEMGOV_1.0;\n")
            lib = tmp / f"case{i}" / "libmemgov.so.1"
            lib.parent.mkdir()
            subprocess.run(cc + ["-shared", "-fPIC", "-fvisibility=hidden", "-o", str(lib), str(tmp / "lib.c"),
                                 "-Wl,-soname,libmemgov.so.1", f"-Wl,--version-script={vmap}"], check=True)
            run = subprocess.run([sys.executable, check, str(lib), str(tmp / "include"), str(vmap)],
                                 capture_output=True, text=True)
            out = run.stdout + run.stderr
            missing = [t for t in want_texts if t not in out]
            if run.returncode != want_rc or missing:
                failures += 1
                print(f"FAIL: {name}: exit {run.returncode} (want {want_rc}), missing {missing}; output:\n{out}")
            else:
                print(f"ok: {name}: exit {run.returncode}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
