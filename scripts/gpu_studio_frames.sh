#!/usr/bin/env bash
# The Studio's frame cost on the GPU machine (no GLFW, no X server, no network; python3 has torch):
# builds skv_studio_frames (app/studio/studio_frames_main.cpp: the same panels and StudioWorker as
# skv-studio, ImGui + ImPlot core with ImGui's null backend, no GL) with CUDA, and runs it while
# the worker decodes on the GPU. Needs .carry/ from scripts/make_gpu_carry.sh (carry: [".carry"]):
# the Debian headers/libs, the imgui/implot source subset and DejaVu Sans. Results under $OUT.
# Model: $SKV_MODEL_GGUF when set (the real SmolLM2-135M GGUF; 98 MB, over what a call carries),
# else the SmolLM2-135M shape with seeded random weights (same tensors and FLOPs, other values;
# the JSON's model_spec says which).
set -u
OUT=${OUT:-$PWD/gpu-studio-frames-out}
mkdir -p "$OUT"
START=$(date +%s)
log() { echo "[gpu_studio_frames $(( $(date +%s) - START ))s] $*"; }
S=$PWD/.carry/sysroot
export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
export LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export SKV_STUDIO_FONT=$PWD/.carry/fonts/DejaVuSans.ttf
B=build-gpu-studio
log configure
cmake -S . -B $B -G Ninja -DSKV_BUILD_GUI=ON -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DSKV_IMGUI_BUNDLE_DIR="$PWD/.carry/imgui-bundle" \
  -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include" -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
grep -E "SKV: (GUI|CUDA)" "$OUT/configure.log"
log build
cmake --build $B --target skv_studio_frames -j16 > "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
[ "${BUILD_ONLY:-0}" = 1 ] && { log "built (BUILD_ONLY=1)"; exit 0; }
nproc >> "$OUT/device.txt"
M=${SKV_MODEL_GGUF:-}
if [ -n "$M" ] && [ -f "$M" ]; then
  log "model: $M"
else
  [ -n "$M" ] && log "SKV_MODEL_GGUF=$M not found"
  M=assets/models/smollm2-135m.json
  log "model: $M (SmolLM2-135M shape, seeded random weights)"
fi
# STRESS=1: the heap-corruption check (docs/STUDIO.md) instead of the benchmark: N runs at once
# (N=4 each) with the CUPTI timeline flushed by the probe worker thread (the old way) and by the
# decode thread between steps (the fix), 60 fps, 1024 prompt tokens, 2 threads each; then one
# unpaced (--fps 0) run with every thread. Each run's exit code, any crash stack and its summary
# line go to $OUT/stress.txt.
if [ "${STRESS:-0}" = 1 ]; then
  N=${N:-4}; SECS=${SECS:-40}
  one() {  # name flush fps threads
    local f="$B/stress_$1.log"
    ( [ -n "$4" ] && export OMP_NUM_THREADS=$4
      timeout 240 $B/bin/skv_studio_frames --model "$M" --device cuda --max-prompt-tokens 1024 --probe timeline \
        --probe-flush "$2" --fps "$3" --max-seconds "$SECS" --json "$B/stress_$1.json" > "$f" 2>&1; echo "rc=$?" >> "$f" )
  }
  log "stress: $N runs flush=worker and $N runs flush=decode at once"
  for i in $(seq 1 "$N"); do one "worker$i" worker 60 2 & one "decode$i" decode 60 2 & done
  wait
  log "stress: one unpaced run (--fps 0), flush=decode, all threads"
  one unpaced decode 0 ""
  log "stress done"
  for f in $B/stress_*.log; do
    echo "== $(basename "$f" .log): $(tail -1 "$f")"
    grep -E "skv_studio_frames:|frames over|SIGABRT|SIGSEGV|corrupt|malloc|free\(\)|\(\+0x|\[0x" "$f" | head -40
  done > "$OUT/stress.txt"
  cat "$OUT/stress.txt"
  exit 0
fi
# The prompt is the first shipped text, cut at 4096 tokens (the real model reads it as 3848; a
# shape-only model tokenizes it differently).
# 1) unpaced: the rate the UI thread could sustain while the decoder runs beside it on the GPU;
# 2) paced at 60 fps like skv-studio: the UI's CPU cost and the decoder's tokens/s as a user gets them.
log "bench unpaced"
timeout 150 $B/bin/skv_studio_frames --model "$M" --device cuda --max-prompt-tokens 4096 --fps 0 --max-seconds 25 \
  --json "$OUT/frames_cuda_unpaced.json" 2>&1 | tail -12
log "bench 60 fps"
timeout 100 $B/bin/skv_studio_frames --model "$M" --device cuda --max-prompt-tokens 4096 --fps 60 --max-seconds 25 \
  --json "$OUT/frames_cuda_60fps.json" 2>&1 | tail -12
log done
