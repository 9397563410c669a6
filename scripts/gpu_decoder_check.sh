#!/usr/bin/env bash
# GPU check of the decoder and CLI, on the GPU machine (no network, no GLFW; python3 has torch):
# needs .carry/ from scripts/make_gpu_carry.sh (carry: [".carry"]). Builds the skv CLI with CUDA
# and runs `skv bench decode` on the GPU (and on its CPU for comparison); results under $OUT.
# The default model's file (98 MB) is over the 64 MiB a call can carry, so the benchmark uses the
# SmolLM2-135M shape with seeded random weights: the same tensors and FLOPs, other values.
set -u
OUT=${OUT:-$PWD/gpu-decoder-out}
mkdir -p "$OUT"
S=$PWD/.carry/sysroot
export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
export LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
B=build-gpu-decoder
cmake -S . -B $B -G Ninja -DSKV_BUILD_GUI=OFF -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include" -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
cmake --build $B --target skv -j16 > "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
M=assets/models/smollm2-135m.json
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
$B/bin/skv bench decode --model $M --context 512,4096 --decode-tokens 64 --device cuda --json "$OUT/decode_cuda.json"
$B/bin/skv bench decode --model $M --context 512 --decode-tokens 16 --device cpu --json "$OUT/decode_cpu16.json"
$B/bin/skv bench decode --model $M --context 512 --device cuda --decode-tokens 8 > /dev/null 2>&1 || true
echo done
