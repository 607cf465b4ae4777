#!/usr/bin/env bash
# The main job, from nothing, on a Debian 12 machine: set-up (scripts/bootstrap.sh), a release build, then
# `memgov demo`, the guided tour.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/bootstrap.sh
if [ ! -f build-demo/build.ninja ]; then
  meson setup build-demo -Dbuildtype=release -Dtests=false -Djemalloc_cache_dir="$here/.jemalloc-cache" >/dev/null
fi
ninja -C build-demo >/dev/null
exec build-demo/tools/memgov demo "$@"
