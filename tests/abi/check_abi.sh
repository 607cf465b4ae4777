#!/bin/sh
# check_abi.sh BASELINE LIBRARY INCLUDE_DIR
# Compares the built library with the committed abidw baseline. Added symbols are allowed (abidiff exit bit 4
# alone); an incompatible change (bit 8: a removed or changed symbol), an error (bit 1) or a usage error
# (bit 2) fails. To refresh the baseline on purpose, see docs/abi.md.
# A type change that abidiff reports only as "changed" (exit bit 4, e.g. a public struct that grew) fails too:
# bit 4 passes only when a second run with --no-added-syms finds nothing, i.e. the change is added symbols.
# The check proves it can fail: the baseline plus one invented symbol must be refused as a removal, and the
# baseline with memgov_budget_options' size changed must be reported.
baseline=$1; lib=$2; inc=$3
command -v abidiff >/dev/null 2>&1 || { echo "FAIL: abidiff not found (install abigail-tools)"; exit 1; }
[ -f "$baseline" ] || { echo "FAIL: no baseline at $baseline (see docs/abi.md)"; exit 1; }

abidiff --headers-dir2 "$inc" --drop-private-types "$baseline" "$lib"
rc=$?
if [ $((rc & 11)) -ne 0 ]; then
  echo "FAIL: abidiff exit status $rc: the ABI changed incompatibly against $baseline (see docs/abi.md)"
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  # Bit 4 means "some change": added symbols, but also a changed type (a struct that grew, a field retyped),
  # which abidiff does not count as incompatible (bit 8). Only additions may pass: ask again without them.
  abidiff --no-added-syms --headers-dir2 "$inc" --drop-private-types "$baseline" "$lib"
  rc2=$?
  if [ "$rc2" -ne 0 ]; then
    echo "FAIL: abidiff exit status $rc2 without the added symbols: a type or function of the baseline changed"
    echo "      (a public struct must not change size in place: docs/abi.md, 'Growing a struct')"
    exit 1
  fi
  echo "ok: compatible additions only (abidiff exit status $rc)"
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

# Second self-check: a stable option struct that changed size (the baseline's memgov_budget_options made one
# field shorter, as if the library had appended one) must be caught by the no-additions comparison above.
sed "s/\(<class-decl name='memgov_budget_options' size-in-bits='\)\([0-9]*\)'/\1$((64))'/" "$baseline" >"$doctored"
grep -q "<class-decl name='memgov_budget_options' size-in-bits='64'" "$doctored" || {
  echo "FAIL: self-check: memgov_budget_options not found in $baseline"; exit 1; }
abidiff --no-added-syms --headers-dir2 "$inc" --drop-private-types "$doctored" "$lib" >/dev/null
rc=$?
if [ "$rc" -eq 0 ]; then
  echo "FAIL: self-check: abidiff did not report memgov_budget_options changing size"
  exit 1
fi
echo "ok: self-check: a public struct changing size is reported (exit status $rc)"
