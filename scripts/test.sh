#!/usr/bin/env bash
# The whole test suite, from nothing, on a Debian 12 machine: set-up (scripts/bootstrap.sh), then
#   build-test  normal build (debugoptimized, warnings as errors) + every test,
#   build-asan  ASan+UBSan build, budget allocations through the C library's malloc so ASan sees every block,
#               + every test,
#   build-tsan  TSan build, budget allocations through the C library's malloc, + the concurrent suite only,
# and a closing line `N passed, N failed, N skipped` summed over the builds. Exits non-zero on any failure.
# The private jemalloc is built once and reused by every build directory (.jemalloc-cache/).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/bootstrap.sh || exit 1

cache="$here/.jemalloc-cache"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}

builds=()
status=0
run_build() { # NAME MESON-OPTIONS...   (TEST_ARGS: extra `meson test` arguments, e.g. a suite)
  local dir=$1; shift
  echo "== $dir: meson setup $*"
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" -Djemalloc_cache_dir="$cache" >"$dir.setup.log" 2>&1
  else
    meson setup "$dir" "$@" -Djemalloc_cache_dir="$cache" >"$dir.setup.log" 2>&1
  fi || { cat "$dir.setup.log"; echo "== $dir: meson setup failed"; status=1; return; }
  builds+=("$dir")
  rm -f "$dir/meson-logs/testlog.json"
  echo "== $dir: build"
  ninja -C "$dir" >"$dir.build.log" 2>&1 || { tail -n 40 "$dir.build.log"; echo "== $dir: build failed"; status=1; return; }
  echo "== $dir: test"
  meson test -C "$dir" --print-errorlogs --num-processes 2 ${TEST_ARGS:-} || status=1
}

run_build build-test -Dbuildtype=debugoptimized -Dwerror=true -Dfuzz=enabled
run_build build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dalloc_backend=libc
echo "== build-asan: suite 'python' skipped on purpose: /usr/bin/python3 is not instrumented and the numpy handler" \
  "extension is (a libasan preload for a whole interpreter is not worth it); build-test runs it"
TEST_ARGS="--suite concurrent" run_build build-tsan -Dbuildtype=debug -Db_sanitize=thread -Db_lundef=false \
  -Dalloc_backend=libc

echo
/usr/bin/python3 tools/ci/summarize.py "${builds[@]}" || status=1
exit $status
