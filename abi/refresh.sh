#!/bin/sh
# abi/refresh.sh BUILD_DIR — rewrites abi/libmemgov.abi from BUILD_DIR's library. Only on purpose: read
# docs/abi.md first. The build must have debug info (buildtype debugoptimized or debug).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: abi/refresh.sh BUILD_DIR}
abidw --headers-dir "$here/include" --drop-private-types --no-corpus-path --no-comp-dir-path \
  --out-file "$here/abi/libmemgov.abi" "$build/src/libmemgov.so.1"
echo "wrote $here/abi/libmemgov.abi from $build/src/libmemgov.so.1"
