#!/bin/sh
# Runs a libFuzzer target for a bounded time on a copy of its seed corpus.
# usage: run_fuzz.sh FUZZER SEEDS WORKDIR SECONDS MAX_LEN [DICT [EXTRA-FLAGS]]
# Exit status: libFuzzer's (non-zero on a crash, a sanitizer report, a leak, a timeout of one input); 1 if the
# fuzzer ran no input at all (a target that does nothing must not pass).
set -eu
fuzzer=$1 seeds=$2 work=$3 seconds=$4 max_len=$5 dict=${6:-} extra=${7:-}
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
# -error_exitcode: libFuzzer's default, 77, is what meson reads as "skipped": a crash must be a failure.
set -- -max_total_time="$seconds" -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=2048 -max_len="$max_len" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
# shellcheck disable=SC2086 # EXTRA-FLAGS is a list of libFuzzer flags
[ -n "$extra" ] && set -- "$@" $extra
"$fuzzer" "$@" "$work/corpus" 2>"$work/log" || { rc=$?; tail -n 60 "$work/log"; [ $rc -eq 77 ] && rc=1; exit $rc; }
tail -n 12 "$work/log"
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
[ "${runs:-0}" -gt 0 ] || { echo "run_fuzz.sh: the fuzzer executed no input"; exit 1; }
echo "run_fuzz.sh: $runs inputs in $seconds s"
