#!/usr/bin/env bash
# RDR fidelity grid on the GPU machine (docs/RDR_RESULTS.md): builds the skv CLI there (needs
# .carry/ from scripts/make_gpu_carry.sh; device call with carry: [".carry"]) and runs `skv eval`
# cells in parallel processes, JSON per cell under $OUT. The model file must reach the machine:
# SKV_MODEL_GGUF=/path/SmolLM2-135M-Instruct.Q4_1.gguf. Meant to finish within 9 minutes wall:
# each cell has a timeout, STEPS (default 64) and TOKENS (default 2048) set the size.
# The decoder runs on --device cuda when it works (probed on a small cell first), else cpu; the
# tiered cache and the policies run on the CPU either way (core/cache/tiered_kv_cache.cpp).
set -u
OUT=${OUT:-$PWD/gpu-rdr-out}
mkdir -p "$OUT"
: "${SKV_MODEL_GGUF:?set SKV_MODEL_GGUF to the SmolLM2-135M-Instruct GGUF file}"
[ -f "$SKV_MODEL_GGUF" ] || { echo "gpu_rdr_eval: no file $SKV_MODEL_GGUF" >&2; exit 1; }
STEPS=${STEPS:-64}
TOKENS=${TOKENS:-2048}
JOBS=${JOBS:-8}            # parallel eval processes
THREADS=${THREADS:-2}      # torch threads per process
CELL_TIMEOUT=${CELL_TIMEOUT:-330}
t0=$(date +%s)
S=$PWD/.carry/sysroot
export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
export LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
B=build-gpu-rdr
cmake -S . -B $B -G Ninja -DSKV_BUILD_GUI=OFF -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include" -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
cmake --build $B --target skv -j16 > "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/device.txt" 2>/dev/null || true
SKV=$B/bin/skv
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
# Which device: a 256-token, 4-step probe on cuda and on cpu (timed).
DEV=cpu
for d in cuda cpu; do
  s=$(date +%s)
  if timeout 120 $SKV eval --model "$SKV_MODEL_GGUF" --device $d --text prose_lighthouse.txt --max-tokens 256 --steps 4 \
       --compare rdr --decoded-scoring --quiet > "$OUT/probe_$d.txt" 2>&1; then
    echo "probe $d: ok in $(( $(date +%s) - s )) s"
    [ $d = cuda ] && DEV=cuda && break
  else
    echo "probe $d: failed (rc=$?)"; tail -3 "$OUT/probe_$d.txt"
  fi
done
echo "device for the grid: $DEV"
# Cells: NAME TEXT BUDGET POLICIES (one process each; every process repeats the exact prefill).
# rdr = the defaults (sensitivity weights of assets/profiles, utility snapkv*0.8+recency*0.2);
# rdr~sens=off~util=snapkv = RDR as first measured (docs/RDR_RESULTS.md history).
cells=(
  "prose25a prose_lighthouse.txt 0.25 rdr,rdr~sens=off~util=snapkv,kivi4,rdkv~sens=auto~util=snapkv*0.8+recency*0.2"
  "prose25b prose_lighthouse.txt 0.25 rdkv,snapkv,tri"
  "prose25c prose_lighthouse.txt 0.25 streaming,h2o,pyramidkv,kivi2,quest"
  "code25a code_event_queue.txt 0.25 rdr,rdr~sens=off~util=snapkv,kivi4,rdkv~sens=auto~util=snapkv*0.8+recency*0.2"
  "code25b code_event_queue.txt 0.25 rdkv,snapkv,pyramidkv"
  "prose12a prose_lighthouse.txt 0.125 rdr,rdr~sens=off~util=snapkv,kivi4,rdkv~sens=auto~util=snapkv*0.8+recency*0.2"
  "prose12b prose_lighthouse.txt 0.125 rdkv,snapkv"
  "code12a code_event_queue.txt 0.125 rdr,rdr~sens=off~util=snapkv,kivi4,rdkv~sens=auto~util=snapkv*0.8+recency*0.2"
  "code12b code_event_queue.txt 0.125 rdkv,snapkv"
)
run_cell() {
  set -f; set -- $1
  timeout "$CELL_TIMEOUT" $SKV eval --model "$SKV_MODEL_GGUF" --device "$DEV" --text "$2" --max-tokens "$TOKENS" \
    --steps "$STEPS" --budget "$3" --compare "$4" --decoded-scoring --quiet --json "$OUT/$1.json" > "$OUT/$1.txt" 2>&1
  echo "$1: rc=$? $(( $(date +%s) - t0 )) s"
}
export -f run_cell
export SKV DEV TOKENS STEPS OUT CELL_TIMEOUT t0 SKV_MODEL_GGUF
printf '%s\n' "${cells[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_cell "{}"'
for f in "$OUT"/*25*.txt "$OUT"/*12*.txt; do echo "== $f"; cat "$f"; done
echo "done in $(( $(date +%s) - t0 )) s"
