#!/bin/sh
# build-jemalloc.sh SRCDIR OUTDIR CACHEDIR CC CONFIGURE-ARGS...
# Configures and builds jemalloc out of tree in OUTDIR/build, compiles memgov's glue SRCDIR/mgje_fast.c (the budget
# fast path's calls into jemalloc's internals) with jemalloc's own flags and headers into libjemalloc_pic.a, and
# copies libjemalloc_pic.a and the generated jemalloc.h (as mgje.h, so it cannot be confused with a system
# jemalloc.h) to OUTDIR. With a non-empty CACHEDIR, a finished build is kept there under a key made of the
# tarball's version file, the glue, the configure arguments and the compiler's version, and reused: the normal and
# the sanitizer builds of one CI run share one jemalloc build (jemalloc itself is never built with sanitizers).
# MGJE_EXTRA_GLUE (environment, optional): more glue files (paths, space-separated) compiled the same way and added
# to the archive (the preload library's build: src/preload/meson.build); they are part of the cache key.
set -eu
src=$1; out=$2; cache=$3; cc=$4; shift 4

extra=${MGJE_EXTRA_GLUE:-}
# shellcheck disable=SC2086
key=$( { printf '%s\n' "$@"; $cc --version 2>&1 | head -n1; cat "$src/VERSION" "$src/mgje_fast.c" $extra; echo glue-2; } |
      sha256sum | cut -c1-16)
if [ -n "$cache" ] && [ -f "$cache/$key/libjemalloc_pic.a" ] && [ -f "$cache/$key/mgje.h" ]; then
  echo "jemalloc: reusing cached build $cache/$key"
  cp "$cache/$key/libjemalloc_pic.a" "$cache/$key/mgje.h" "$out/"
  exit 0
fi

echo "jemalloc: configuring and building in $out/build (takes a minute or two)"
rm -rf "$out/build"
mkdir -p "$out/build"
cd "$out/build"
unset CFLAGS CPPFLAGS LDFLAGS
CC="$cc" "$src/configure" "$@" >configure.log 2>&1 || { tail -n 30 configure.log >&2; exit 1; }
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
make -j"$jobs" build_lib_static >make.log 2>&1 || { tail -n 30 make.log >&2; exit 1; }
# The glue, compiled as jemalloc compiles its own PIC objects (the command comes from jemalloc's Makefile).
compile=$(printf 'mg-print-compile:\n\t@echo $(CC) $(CPPFLAGS) $(CFLAGS) $(PIC_CFLAGS)\n' |
          make -s -f Makefile -f - mg-print-compile)
for glue in "$src/mgje_fast.c" $extra; do
  obj=$(basename "$glue" .c).pic.o
  $compile -Werror -c "$glue" -o "$obj" >glue.log 2>&1 || { cat glue.log >&2; exit 1; }
  ar rcs lib/libjemalloc_pic.a "$obj"
done
cp lib/libjemalloc_pic.a "$out/"
cp include/jemalloc/jemalloc.h "$out/mgje.h"

if [ -n "$cache" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
  cp "$out/libjemalloc_pic.a" "$out/mgje.h" "$tmp/"
  mv "$tmp" "$cache/$key" 2>/dev/null || rm -rf "$tmp"
  echo "jemalloc: cached as $cache/$key"
fi
