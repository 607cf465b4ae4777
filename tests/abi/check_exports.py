#!/usr/bin/python3
"""The exported surface of libmemgov.so: only memgov_* symbols, each one declared MEMGOV_API in a public header
and each declaration exported; the soname is libmemgov.so.1; no symbol version other than MEMGOV_1.x and
MEMGOV_EXPERIMENTAL; the two tiers (docs/abi.md): a function declared in a header marked
MEMGOV_EXPERIMENTAL_HEADER is exported under MEMGOV_EXPERIMENTAL, every other under MEMGOV_1.x, and the version
script's MEMGOV_EXPERIMENTAL node names only experimental functions; and no STATIC_TLS flag, the mark of
initial-exec TLS that makes dlopen fail (docs/design.md 4.1).

A header whose opening comment has a line `MEMGOV_LIBRARY: NAME` declares the functions of library NAME
(libmemgov_knn for memgov/knn.h); the others belong to libmemgov. The checked library's name is its file name
up to ".so"; only the headers of that library count, and its soname must be NAME.so.1.

usage: check_exports.py LIBRARY INCLUDE_DIR [VERSION_SCRIPT]
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


# A public header is in the experimental tier when a line of it (normally in its opening comment) starts with
# this token; docs/abi.md describes the tiers.
EXPERIMENTAL_MARK = re.compile(r"^\s*(?:/\*+|\*)?\s*MEMGOV_EXPERIMENTAL_HEADER\b", re.M)
STABLE_VERSION = re.compile(r"MEMGOV_1\.\d+")
EXPERIMENTAL_VERSION = "MEMGOV_EXPERIMENTAL"
LIBRARY_MARK = re.compile(r"^\s*(?:/\*+|\*)?\s*MEMGOV_LIBRARY:\s*(\w+)", re.M)


def declared(include_dir, library="libmemgov"):
    """{function name: (header path relative to include_dir, experimental?)} of every MEMGOV_API declaration in
    the headers of `library` (MEMGOV_LIBRARY mark; unmarked headers are libmemgov's)."""
    names = {}
    root = pathlib.Path(include_dir)
    for header in sorted(root.rglob("*.h")):
        text = header.read_text()
        mark = LIBRARY_MARK.search(text)
        if (mark.group(1) if mark else "libmemgov") != library:
            continue
        experimental = EXPERIMENTAL_MARK.search(text) is not None
        for m in re.finditer(r"MEMGOV_API\s+[^;{]*?\b(memgov_\w+)\s*\(", text):
            names[m.group(1)] = (str(header.relative_to(root)), experimental)
    return names


def experimental_listing(map_path):
    """The names listed explicitly in the version script's MEMGOV_EXPERIMENTAL node."""
    text = re.sub(r"/\*.*?\*/", "", pathlib.Path(map_path).read_text(), flags=re.S)
    node = re.search(r"\bMEMGOV_EXPERIMENTAL\s*\{(.*?)\}", text, re.S)
    if node is None:
        return None
    body = re.split(r"\blocal\s*:", node.group(1))[0]  # a library whose only node it is ends with local: *;
    body = re.sub(r"\bglobal\s*:", "", body)
    return {n.strip() for n in body.split(";") if n.strip()}


def tier_failures(syms, decl, listing):
    """The tier rules: a function of an experimental header is exported under MEMGOV_EXPERIMENTAL, every other
    under MEMGOV_1.x; the MEMGOV_EXPERIMENTAL node of the version script lists only experimental functions."""
    failures = []
    misplaced_exp = sorted(f"{n} ({decl[n][0]}) is @{syms[n][1] or 'unversioned'}" for n in decl
                           if n in syms and decl[n][1] and syms[n][1] != EXPERIMENTAL_VERSION)
    if misplaced_exp:
        failures.append("experimental-tier functions not exported under MEMGOV_EXPERIMENTAL (list them in "
                        "src/libmemgov.map): " + ", ".join(misplaced_exp))
    misplaced_stable = sorted(f"{n} ({decl[n][0]}) is @{syms[n][1] or 'unversioned'}" for n in decl
                              if n in syms and not decl[n][1] and not STABLE_VERSION.fullmatch(syms[n][1]))
    if misplaced_stable:
        failures.append("stable-tier functions not exported under a MEMGOV_1.x node: " + ", ".join(misplaced_stable))
    if listing is not None:
        stray = sorted(n for n in listing if n not in decl or not decl[n][1])
        if stray:
            failures.append("named in the MEMGOV_EXPERIMENTAL node but not declared in an experimental header: " +
                            ", ".join(stray))
    return failures


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        return 2
    lib, include_dir = sys.argv[1], sys.argv[2]
    map_path = sys.argv[3] if len(sys.argv) == 4 else None
    failures = []
    syms = exported(lib)
    functions = {n for n, (kind, _) in syms.items() if kind != "A"}
    versions = {n for n, (kind, _) in syms.items() if kind == "A"}

    strays = sorted(n for n in functions if not n.startswith("memgov_"))
    if strays:
        failures.append("symbols outside memgov_*: " + ", ".join(strays[:20]) + (" ..." if len(strays) > 20 else ""))
    bad_versions = sorted(v for v in versions if not (STABLE_VERSION.fullmatch(v) or v == EXPERIMENTAL_VERSION))
    if bad_versions:
        failures.append("symbol versions other than MEMGOV_1.x and MEMGOV_EXPERIMENTAL: " + ", ".join(bad_versions))
    unversioned = sorted(n for n in functions if not syms[n][1].startswith("MEMGOV_"))
    if unversioned:
        failures.append("exported without a MEMGOV_ version node: " + ", ".join(unversioned))

    library = pathlib.Path(lib).name.split(".so")[0]
    decl = declared(include_dir, library)
    if not decl:
        failures.append(f"no MEMGOV_API declarations found under {include_dir}")
    missing = sorted(set(decl) - functions)
    if missing:
        failures.append("declared MEMGOV_API but not exported: " + ", ".join(missing))
    undeclared = sorted(n for n in functions if n.startswith("memgov_") and n not in decl)
    if undeclared:
        failures.append("exported but not declared in a public header: " + ", ".join(undeclared))
    listing = None
    if map_path is not None:
        listing = experimental_listing(map_path)
        if listing is None:
            failures.append(f"{map_path} has no MEMGOV_EXPERIMENTAL node")
    failures += tier_failures(syms, decl, listing)

    dyn = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True, text=True).stdout
    soname = re.search(r"\(SONAME\).*\[(.*)\]", dyn)
    if not soname or soname.group(1) != f"{library}.so.1":
        failures.append(f"soname is {soname.group(1) if soname else 'missing'}, expected {library}.so.1")
    if re.search(r"\(FLAGS\).*STATIC_TLS", dyn):
        failures.append("the library has the STATIC_TLS flag (initial-exec TLS): dlopen from Python/R would fail")

    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    n_exp = sum(1 for n in functions if n in decl and decl[n][1])
    print(f"ok: {len(functions)} exported functions ({len(functions) - n_exp} stable, {n_exp} experimental), all "
          f"memgov_* in {sorted(versions)}, each declared and in its tier's node; soname {library}.so.1; "
          f"no STATIC_TLS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
