#!/bin/sh
# check_abi.sh BASELINE LIBRARY INCLUDE_DIR
# Compares the built library with the committed abidw baseline. Added symbols are allowed (abidiff exit bit 4
# alone); an incompatible change (bit 8: a removed or changed symbol), an error (bit 1) or a usage error
# (bit 2) fails. To refresh the baseline on purpose, see docs/abi.md.
# The check proves it can fail: the same comparison against the baseline plus one invented symbol must be
# refused as a removal.
baseline=$1; lib=$2; inc=$3
command -v abidiff >/dev/null 2>&1 || { echo "FAIL: abidiff not found (install abigail-tools)"; exit 1; }
[ -f "$baseline" ] || { echo "FAIL: no baseline at $baseline (see docs/abi.md)"; exit 1; }

abidiff --headers-dir2 "$inc" --drop-private-types "$baseline" "$lib"
rc=$?
if [ $((rc & 11)) -ne 0 ]; then
  echo "FAIL: abidiff exit status $rc: the ABI changed incompatibly against $baseline (see docs/abi.md)"
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then echo "ok: compatible additions only (abidiff exit status $rc)"
else echo "ok: ABI identical to the baseline"; fi

doctored=$(mktemp)
trap 'rm -f "$doctored"' EXIT
sed "0,/<elf-symbol name='memgov_/s||<elf-symbol name='memgov_abi_selfcheck_removed' version='MEMGOV_1.0' is-default-version='yes' type='func-type' binding='global-binding' visibility='default-visibility' is-defined='yes'/>\n    &|" \
  "$baseline" >"$doctored"
abidiff --headers-dir2 "$inc" --drop-private-types "$doctored" "$lib" >/dev/null
rc=$?
if [ $((rc & 8)) -eq 0 ]; then
  echo "FAIL: self-check: abidiff did not report a symbol removed from the library (exit status $rc)"
  exit 1
fi
echo "ok: self-check: a removed symbol is reported as incompatible (exit status $rc)"
