#!/usr/bin/env bash
# Kernel iteration without a build on the GPU machine: builds skv_kernels_tests and skv_attn_bench
# here (CUDA on, sm_90a; build dir $SKV_BUILD or build/) and copies them, stripped, into the
# git-ignored .carry-bin/ (~25 MB) with scripts/gpu_kernel_quick.sh. On the device:
#   run(carry [".carry-bin"]): bash .carry-bin/gpu_kernel_quick.sh
# (seconds instead of the ~2 min build of scripts/gpu_check.sh, which stays the full check).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
B=${SKV_BUILD:-build}
cmake --build "$B" --target skv_kernels_tests skv_attn_bench
mkdir -p .carry-bin
cp "$B/tests/skv_kernels_tests" "$B/kernels/skv_attn_bench" scripts/gpu_kernel_quick.sh .carry-bin/
strip .carry-bin/skv_kernels_tests .carry-bin/skv_attn_bench
echo "carry-bin: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+edits')"
du -sh .carry-bin
