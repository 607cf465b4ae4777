#!/bin/sh
# Runs the libFuzzer target for a bounded time on a copy of the seed corpus. usage: run_fuzz.sh FUZZER SEEDS WORKDIR SECONDS
# Exit status: libFuzzer's (non-zero on a crash, a sanitizer report or a leak).
set -eu
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
