#!/usr/bin/python3
"""The exported surface of libmemgov.so: only memgov_* symbols, each one declared MEMGOV_API in a public header
and each declaration exported; the soname is libmemgov.so.1; no symbol version other than MEMGOV_*; and no
STATIC_TLS flag, the mark of initial-exec TLS that makes dlopen fail (DESIGN.md 3.1).

usage: check_exports.py LIBRARY INCLUDE_DIR
"""
import pathlib
import re
import subprocess
import sys


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2]
        base, _, version = name.partition("@")
        syms[base] = (kind, version.lstrip("@"))
    return syms


def declared(include_dir):
    names = set()
    for header in pathlib.Path(include_dir).rglob("*.h"):
        text = header.read_text()
        for m in re.finditer(r"MEMGOV_API\s+[^;{]*?\b(memgov_\w+)\s*\(", text):
            names.add(m.group(1))
    return names


def main():
    lib, include_dir = sys.argv[1], sys.argv[2]
    failures = []
    syms = exported(lib)
    functions = {n for n, (kind, _) in syms.items() if kind != "A"}
    versions = {n for n, (kind, _) in syms.items() if kind == "A"}

    strays = sorted(n for n in functions if not n.startswith("memgov_"))
    if strays:
        failures.append("symbols outside memgov_*: " + ", ".join(strays[:20]) + (" ..." if len(strays) > 20 else ""))
    bad_versions = sorted(v for v in versions if not v.startswith("MEMGOV_"))
    if bad_versions:
        failures.append("symbol versions outside MEMGOV_*: " + ", ".join(bad_versions))
    unversioned = sorted(n for n in functions if not syms[n][1].startswith("MEMGOV_"))
    if unversioned:
        failures.append("exported without a MEMGOV_ version node: " + ", ".join(unversioned))

    decl = declared(include_dir)
    if not decl:
        failures.append(f"no MEMGOV_API declarations found under {include_dir}")
    missing = sorted(decl - functions)
    if missing:
        failures.append("declared MEMGOV_API but not exported: " + ", ".join(missing))
    undeclared = sorted(n for n in functions if n.startswith("memgov_") and n not in decl)
    if undeclared:
        failures.append("exported but not declared in a public header: " + ", ".join(undeclared))

    dyn = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True, text=True).stdout
    soname = re.search(r"\(SONAME\).*\[(.*)\]", dyn)
    if not soname or soname.group(1) != "libmemgov.so.1":
        failures.append(f"soname is {soname.group(1) if soname else 'missing'}, expected libmemgov.so.1")
    if re.search(r"\(FLAGS\).*STATIC_TLS", dyn):
        failures.append("the library has the STATIC_TLS flag (initial-exec TLS): dlopen from Python/R would fail")

    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print(f"ok: {len(functions)} exported functions, all memgov_* in {sorted(versions)}, each declared; "
          f"soname libmemgov.so.1; no STATIC_TLS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
