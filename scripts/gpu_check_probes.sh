#!/usr/bin/env bash
# Builds probes/validate/probe_validate.cu with the probe sources (nvcc directly: no CMake
# dependencies needed on the GPU machine) and runs it. Results go under $OUT (default ./out):
#   probe_validate.json  the validation JSON (checks, per-kernel/per-range numbers, overheads)
#   environment.txt      GPU, driver, CUDA, profiling-permission setting
# Usage: OUT=/some/dir scripts/gpu_check_probes.sh        (CUDA_HOME defaults to /usr/local/cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
BUILD=${BUILD:-$PWD/build-gpu-probes}
mkdir -p "$OUT" "$BUILD"

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>&1 || true
  "$CUDA_HOME/bin/nvcc" --version | tail -2
  grep -i profiling /proc/driver/nvidia/params 2>/dev/null || echo "no /proc/driver/nvidia/params"
  ls "$CUDA_HOME"/lib64/libcupti* "$CUDA_HOME"/targets/*/lib/libcupti* 2>/dev/null || true
} > "$OUT/environment.txt"
cat "$OUT/environment.txt"

arch=native
"$CUDA_HOME/bin/nvcc" -std=c++20 -O2 -arch="$arch" -I. -I"$CUDA_HOME/include" \
  -DSKV_PROBES_HAVE_CUPTI_HEADERS=1 \
  probes/validate/probe_validate.cu probes/*.cpp -ldl -lpthread -o "$BUILD/skv_probe_validate"

export LD_LIBRARY_PATH="$CUDA_HOME/lib64:$CUDA_HOME/targets/x86_64-linux/lib:$CUDA_HOME/extras/CUPTI/lib64:${LD_LIBRARY_PATH:-}"
"$BUILD/skv_probe_validate" "$OUT/probe_validate.json"
