#!/usr/bin/env bash
# scripts/gpu-check.sh [BUILD_DIR] — the checks of the GPU shim (issue 16, docs/gpu.md) that need a real NVIDIA
# GPU, in one command, on a machine with the NVIDIA driver (libcuda.so.1) and the build dependencies of
# scripts/bootstrap.sh. CI has no GPU: there the same code runs on the simulated device and on fake driver libraries
# (tests/unit/test_gpu.c, tests/gpu/fake_cuda.c). Writes everything it prints to gpu-check-results.txt too, and
# exits non-zero when a check fails. About 2 minutes after the build.
#
#   1. the CI tests of the GPU shim still pass on that machine (the CUDA loading test then meets a real driver);
#   2. bench_gpu check: on CUDA device 0, a device budget's cap holds against the driver's own count of free
#      memory, the refusal names the device, budget and limit, and a refusal by the device itself (two device
#      budgets on one GPU) is one device refusal with the driver's words;
#   3. bench_gpu pairs cuda: allocate+free pairs through memgov (its pool, release threshold = the cap) against the
#      driver's pool (same threshold) and cuMemAlloc/cuMemFree;
#   4. the PyTorch checks (bench/gpu_torch.py), when /usr/bin/python3 has a CUDA build of torch.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-gpu}
out="$here/gpu-check-results.txt"
: >"$out"
say() { echo "$@" | tee -a "$out"; }
run() { # a command whose output is kept; its status is the script's concern
  say "\$ $*"
  "$@" 2>&1 | tee -a "$out"
  return "${PIPESTATUS[0]}"
}
status=0
say "== gpu-check $(date -u +%FT%TZ) on $(hostname); git $(git -C "$here" rev-parse --short HEAD 2>/dev/null)"
command -v nvidia-smi >/dev/null && run nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
if [ ! -f "$build/build.ninja" ]; then
  run meson setup "$build" -Dbuildtype=debugoptimized -Djemalloc_cache_dir="$here/.jemalloc-cache" || exit 1
fi
run ninja -C "$build" >/dev/null || exit 1
run meson test -C "$build" --print-errorlogs gpu gpu-stress gpu-check-fake example-gpu || status=1
run "$build/bench/bench_gpu" check || status=1
run "$build/bench/bench_gpu" pairs cuda || status=1
if [ -f "$here/bench/gpu_torch.py" ] && /usr/bin/python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  run env PYTHONPATH="$build/bindings/python" /usr/bin/python3 "$here/bench/gpu_torch.py" || status=1
else
  say "== PyTorch checks skipped: /usr/bin/python3 has no CUDA build of torch (pip install torch, then rerun)"
fi
say "== gpu-check: $([ $status -eq 0 ] && echo ALL CHECKS PASSED || echo SOME CHECKS FAILED) (results in $out)"
exit $status
