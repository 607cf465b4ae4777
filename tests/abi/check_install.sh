#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR CC SANITIZE [PYTHON_INSTALL_DIR PREFIX LIBDIR]
# `meson install` into a scratch DESTDIR, then compile tests/abi/consumer.c with nothing but the installed header
# and `pkg-config --cflags --libs memgov`, and run it against the installed library. With PYTHON_INSTALL_DIR
# (the Python package is built): the package is installed there, that directory is on /usr/bin/python3's
# sys.path (for the prefixes /usr/local and /usr), and `import memgov` from the installed copy loads the
# installed library and allocates a numpy array from a budget. With PRELOAD=yes in the environment (the build has
# the preload library of `memgov run`): it is installed next to libmemgov.so and exports malloc & co. only.
set -eu
build=$1; src=$2; cc=$3; sanitize=$4; pydir=${5:-}; prefix=${6:-}; libdir_opt=${7:-}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" >"$dest/install.log" 2>&1 || { cat "$dest/install.log"; exit 1; }
pc=$(find "$dest" -name memgov.pc | head -n1)
[ -n "$pc" ] || { echo "FAIL: memgov.pc was not installed"; exit 1; }
[ -n "$(find "$dest" -name memgov.h -path '*include*')" ] || { echo "FAIL: memgov.h was not installed"; exit 1; }
[ -n "$(find "$dest" -name common.h -path '*include/memgov/*')" ] || { echo "FAIL: memgov/common.h was not installed"; exit 1; }
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest pkg-config --cflags --libs memgov)
echo "pkg-config --cflags --libs memgov: $flags"
extra=""
[ "$sanitize" = none ] || extra="-fsanitize=$sanitize"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Werror $extra -o "$dest/consumer" "$src/tests/abi/consumer.c" $flags
libdir=$(dirname "$(find "$dest" -name 'libmemgov.so.1' | head -n1)")
LD_LIBRARY_PATH=$libdir "$dest/consumer"
[ -n "$(find "$dest" -name memgov -path '*bin*' -type f)" ] || { echo "FAIL: the memgov program was not installed"; exit 1; }
if [ "${PRELOAD:-no}" = yes ]; then
  lib="$libdir/libmemgov-preload.so"
  [ -f "$lib" ] || { echo "FAIL: $lib was not installed"; exit 1; }
  for sym in malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc pvalloc \
             malloc_usable_size __libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign; do
    nm -D --defined-only "$lib" | grep -q " T $sym\$" || { echo "FAIL: $lib does not export $sym"; exit 1; }
  done
  if nm -D --defined-only "$lib" | grep -q ' T memgov_\| T mgje_'; then
    echo "FAIL: $lib exports memgov's or jemalloc's own symbols"; exit 1
  fi
  echo "installed: $lib (exports the allocation functions only)"
fi

[ -n "$pydir" ] || exit 0
[ -f "$dest$pydir/memgov/__init__.py" ] || { echo "FAIL: the Python package is not in $pydir"; exit 1; }
ls "$dest$pydir"/memgov/_numpy_handler*.so >/dev/null || { echo "FAIL: the numpy handler was not installed"; exit 1; }
grep -qx "LIBRARY = \"$prefix/$libdir_opt/libmemgov.so.1\"" "$dest$pydir/memgov/_paths.py" \
  || { echo "FAIL: the installed package does not record $prefix/$libdir_opt/libmemgov.so.1:"; cat "$dest$pydir/memgov/_paths.py"; exit 1; }
case "$prefix" in
  /usr|/usr/local)
    /usr/bin/python3 -c "import sys; sys.exit(0 if '$pydir' in sys.path else 1)" \
      || { echo "FAIL: $pydir is not on /usr/bin/python3's sys.path"; exit 1; } ;;
esac
if [ "$sanitize" != none ]; then
  echo "python: installed files checked; import skipped (the extension is instrumented, python3 is not)"
  exit 0
fi
PYTHONPATH="$dest$pydir" MEMGOV_LIBRARY="$libdir/libmemgov.so.1" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 - <<PY
import os, memgov, numpy as np
assert memgov.__file__.startswith("$dest"), memgov.__file__
recorded = memgov._lib._paths.LIBRARY
if not os.path.exists(recorded):
    assert memgov.LIBRARY_PATH == "$libdir/libmemgov.so.1", memgov.LIBRARY_PATH
with memgov.Governor(limit="64MiB", env=False) as gov:
    b = gov.budget("installed", hard="1MiB")
    with b.numpy():
        a = np.ones(1000)
        try:
            np.ones(1 << 20)
            raise SystemExit("FAIL: no refusal")
        except MemoryError as e:
            assert "budget 'installed'" in str(e), e
    assert b.stats().used >= a.nbytes
    del a
    b.destroy()
print("python: import memgov from", os.path.dirname(memgov.__file__), "loading", memgov.LIBRARY_PATH, "ok")
PY
