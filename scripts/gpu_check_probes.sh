#!/usr/bin/env bash
# Builds the probe validation programs with nvcc directly (no CMake dependencies needed on the GPU
# machine) and runs them. Results go under $OUT (default ./out):
#   probe_validate.json         copy kernel vs counters, timeline vs CUDA events, step/layer tags,
#                               per-level overheads (probes/validate/probe_validate.cu)
#   attn_traffic_validate.json  paged decode kernels: dram__bytes_read.sum / modeled bytes, and a
#                               PM sampling series (probes/validate/attn_traffic_validate.cu)
#   environment.txt             GPU, driver, CUDA, profiling-permission setting
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

arch=${ARCH:-native}
NV=("$CUDA_HOME/bin/nvcc" -std=c++20 -O2 -arch="$arch" -I. -I"$CUDA_HOME/include" -DSKV_PROBES_HAVE_CUPTI_HEADERS=1)
# The two builds run in parallel (the decode kernels take a few minutes to compile).
"${NV[@]}" probes/validate/probe_validate.cu probes/*.cpp -ldl -lpthread -o "$BUILD/skv_probe_validate" &
build1=$!
"${NV[@]}" -DNDEBUG -DSKV_HAVE_CUDA=1 --expt-relaxed-constexpr probes/validate/attn_traffic_validate.cu \
  kernels/cuda/ada_decode.cu core/probing/attention_traffic_model.cpp probes/*.cpp -ldl -lpthread \
  -o "$BUILD/skv_attn_traffic_validate" &
build2=$!
wait $build1
wait $build2

export LD_LIBRARY_PATH="$CUDA_HOME/lib64:$CUDA_HOME/targets/x86_64-linux/lib:$CUDA_HOME/extras/CUPTI/lib64:${LD_LIBRARY_PATH:-}"
if [ "${SKIP_PROBE_VALIDATE:-0}" != 1 ]; then
  "$BUILD/skv_probe_validate" "$OUT/probe_validate.json" > "$OUT/probe_validate.stdout" 2>&1 || echo "probe_validate failed: $?"
  tail -c 2000 "$OUT/probe_validate.stdout"
fi
"$BUILD/skv_attn_traffic_validate" "$OUT/attn_traffic_validate.json" > "$OUT/attn_traffic_validate.stdout" 2>&1 ||
  echo "attn_traffic_validate failed: $?"
tail -c 4000 "$OUT/attn_traffic_validate.stdout"
