#!/usr/bin/env bash
# GPU check of the kernels layer, run on the GPU machine from the repository root:
# build skv_kernels_tests + skv_attn_bench (+ the skv CLI when .carry/ from
# scripts/make_gpu_carry.sh came with the call: carry [".carry"]), run the GPU tests,
# compute-sanitizer memcheck on a small subset, the benchmark (`skv bench attn`, torch SDPA in the
# same process; without the CLI, skv_attn_bench + scripts/sdpa_baseline.py), and a ptxas resource
# report; everything goes under $OUT (at most 8 files), a short summary table last.
# Knobs: SKIP_SDPA=1, BENCH_ARGS (e.g. "--quick --runs 30" or "--cfg 65536,32,8,128,1"), NCU=1,
# NVCC_ONLY=1 (plain nvcc build of the kernels, tests and bench: quickest), TEST_FILTER (gtest),
# SKIP_SAN=1 (no memcheck), CORE=1 (also skv_core_tests: the tiered cache's CUDA path tests),
# SKIP_BENCH=1, DECODER=1 (with .carry: scripts/gpu_decoder_check.sh on the CLI built here, into $OUT/decoder).
set -u
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
B=${SKV_GPU_BUILD:-build-gpu}
JOBS=${JOBS:-16}
START=$(date +%s)
log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*"; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader > "$OUT/summary.txt" 2>&1 || true

log "configure"
BUILD_OK=0
EXTRA=(); TARGETS=(skv_kernels_tests skv_attn_bench)
S=$PWD/.carry/sysroot
if [ -d "$S" ]; then  # the host deps the whole project needs (pcre2, fmt, CLI11, gtest, json)
  export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
  export LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  EXTRA=(-DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include")
  TARGETS+=(skv)
  [ "${CORE:-0}" = 1 ] && TARGETS+=(skv_core_tests)
fi
# NVCC_ONLY=1: skip the CMake build (kernel work: the plain-nvcc build below is the quickest).
if [ "${NVCC_ONLY:-0}" != 1 ] && cmake -S . -B "$B" -G Ninja -DSKV_BUILD_GUI=OFF -DCMAKE_BUILD_TYPE=Release "${EXTRA[@]}" \
     -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" -DCMAKE_CUDA_FLAGS="-Xptxas=-v" > "$OUT/build.log" 2>&1 &&
   cmake --build "$B" --target "${TARGETS[@]}" -j"$JOBS" >> "$OUT/build.log" 2>&1; then
  BUILD_OK=1
  TESTS="$B/tests/skv_kernels_tests"
  BENCH="$B/kernels/skv_attn_bench"
  [ -x "$B/bin/skv" ] && SKV="$B/bin/skv"
else
  # Whole-project configure failed (missing host deps, e.g. pcre2 on the GPU machine): build just
  # the kernels, their tests and the bench with nvcc; the two links run in parallel.
  log "cmake build failed, falling back to plain nvcc (see build.log)"
  ls /usr/include/gtest/gtest.h /usr/lib/x86_64-linux-gnu/libgtest* /usr/local/lib/libgtest* >> "$OUT/build.log" 2>&1
  mkdir -p "$B/fallback/obj"
  NV="nvcc -std=c++20 -O3 -DNDEBUG -DSKV_HAVE_CUDA=1 -I. --expt-relaxed-constexpr -lineinfo -arch=sm_90a -Xptxas=-v"
  # Every kernel translation unit compiles on its own core; then the two links.
  objs=()
  for f in kernels/cuda/*.cu kernels/cpu/*.cpp; do
    o="$B/fallback/obj/$(basename "$f").o"; objs+=("$o")
    $NV -c -o "$o" "$f" > "$o.log" 2>&1 &
  done
  wait
  cat "$B"/fallback/obj/*.log >> "$OUT/build.log"
  $NV -o "$B/fallback/skv_attn_bench" kernels/bench/attn_bench.cu kernels/bench/attn_bench_suite.cu "${objs[@]}" > "$OUT/build.bench.log" 2>&1 &
  BPID=$!
  GT=(); [ -d "$S" ] && GT=(-isystem "$S/usr/include" -L"$S/usr/lib/x86_64-linux-gnu")  # gtest from .carry
  $NV -o "$B/fallback/skv_kernels_tests" tests/kernels/*.cpp tests/kernels/*.cu "${objs[@]}" \
    -Itests "${GT[@]}" -lgtest -lgtest_main -lpthread >> "$OUT/build.log" 2>&1
  wait $BPID
  cat "$OUT/build.bench.log" >> "$OUT/build.log"; rm -f "$OUT/build.bench.log"
  [ -x "$B/fallback/skv_attn_bench" ] && BENCH="$B/fallback/skv_attn_bench" && BUILD_OK=1
  [ -x "$B/fallback/skv_kernels_tests" ] && TESTS="$B/fallback/skv_kernels_tests"
fi
# ptxas resource report of the decode kernels (registers, smem, spills), from the build itself.
grep -E "Compiling entry|registers|spill" "$OUT/build.log" | grep -A2 -E "decode_split|decode_wpp|decode_mma|merge_kernel|encode_kernel" |
  sed -E 's/_ZN3skv7kernels[^ ]*decode_wpp_kernelILi([0-9]+)ELi([0-9]+)ELi([0-9])ELb([01])[^ ]*/decode_wpp<D=\1,NH=\2,VMODE=\3,MMA=\4>/; s/_ZN3skv7kernels[^ ]*decode_split_kernelILi([0-9]+)ELi([0-9]+)ELb([01])ELi([0-9])[^ ]*/decode_split<D=\1,NH=\2,DENSE=\3,VMODE=\4>/; s/_ZN3skv7kernels[^ ]*decode_mma_kernelILi([0-9]+)ELi([0-9]+)[^ ]*/decode_mma<D=\1,NH=\2>/; s/_ZN3skv7kernels[^ ]*merge_kernelILi([0-9]+)[^ ]*/merge<D=\1>/; s/_ZN3skv7kernels[^ ]*encode_kernelILi([0-9]+)[^ ]*/encode<D=\1>/' > "$OUT/ptxas.txt"
grep -vE "ptxas info|bytes stack frame|^$" "$OUT/build.log" | tail -c 15000 > "$OUT/build.tail.log"; mv "$OUT/build.tail.log" "$OUT/build.log"

TEST_RC=na; SAN_RC=na; BENCH_RC=na; SDPA_RC=na
if [ -n "${TESTS:-}" ] && [ -x "$TESTS" ]; then
  log "tests"
  timeout 240 "$TESTS" --gtest_filter="${TEST_FILTER:-*}" > "$OUT/tests.log" 2>&1; TEST_RC=$?
fi
if [ "${CORE:-0}" = 1 ] && [ -x "$B/tests/skv_core_tests" ]; then
  log "core tests (CUDA paths)"
  timeout 240 "$B/tests/skv_core_tests" --gtest_filter="${CORE_FILTER:-TieredKvCache.*}" > "$OUT/core_tests.log" 2>&1
  echo "core tests rc=$?" >> "$OUT/core_tests.log"
fi
if [ "${DECODER:-0}" = 1 ] && [ -n "${SKV:-}" ]; then
  log "decoder check"
  mkdir -p "$OUT/decoder"
  SKV_BIN="$SKV" OUT="$OUT/decoder" timeout 400 bash scripts/gpu_decoder_check.sh > "$OUT/decoder/summary.txt" 2>&1
fi
if [ "${SKIP_BENCH:-0}" = 1 ]; then
  log "bench skipped (SKIP_BENCH=1)"
elif [ -n "${SKV:-}" ]; then
  log "skv bench attn"
  SDPA_FLAG=; [ "${SKIP_SDPA:-0}" = 1 ] && SDPA_FLAG=--no-sdpa
  timeout 300 "$SKV" bench attn --json "$OUT/bench.json" $SDPA_FLAG ${BENCH_ARGS:-} > "$OUT/bench.txt" 2>&1; BENCH_RC=$?
  SDPA_RC=in-process
elif [ -n "${BENCH:-}" ] && [ -x "$BENCH" ]; then
  log "bench"
  timeout 150 "$BENCH" --json "$OUT/bench.json" ${BENCH_ARGS:-} > "$OUT/bench.txt" 2>&1; BENCH_RC=$?
fi
if [ -z "${SKV:-}" ] && [ "${SKIP_SDPA:-0}" != 1 ] && [ "${SKIP_BENCH:-0}" != 1 ]; then
  log "sdpa baseline"
  timeout 120 python3 scripts/sdpa_baseline.py --json "$OUT/sdpa.json" ${BENCH_ARGS:-} >> "$OUT/bench.txt" 2>&1; SDPA_RC=$?
fi
# NCU=1: Nsight Compute, full set, on one ADA split launch and one merge launch of the target
# configuration (64k, 32q/8kv, d=128, B=1; the 4th call, after 3 warm-ups), clocks as found;
# the details page as text, plus the SASS opcode mix of the target kernel.
if [ "${NCU:-0}" = 1 ] && [ -n "${BENCH:-}" ] && [ -x "$BENCH" ]; then
  log "ncu"
  timeout 200 ncu --set full --clock-control none -k 'regex:decode_mma|decode_wpp|decode_split|merge_kernel' --launch-skip 6 --launch-count 2 \
    "$BENCH" --cfg 65536,32,8,128,1 --runs 5 > "$OUT/ncu.txt" 2>&1 || echo "ncu rc=$?" >> "$OUT/ncu.txt"
  # Source-level view of the default kernel (v7; NCU_KERNEL=decode_wpp for v5/v6): executed instructions and stall samples per
  # SASS instruction, summed per CUDA source line (built with -lineinfo).
  timeout 200 ncu --set full --import-source yes --clock-control none -k "regex:${NCU_KERNEL:-decode_mma}" --launch-skip 3 --launch-count 1 \
    -o "$B/wpp_prof" -f "$BENCH" --cfg 65536,32,8,128,1 --runs 5 > "$OUT/ncu_wpp_run.txt" 2>&1
  ncu -i "$B/wpp_prof.ncu-rep" --page details > "$OUT/ncu_wpp.txt" 2>&1
  ncu -i "$B/wpp_prof.ncu-rep" --page source --csv --print-source cuda,sass > "$B/wpp_src.csv" 2>&1
  python3 scripts/ncu_source_summary.py "$B/wpp_src.csv" > "$OUT/ncu_wpp_lines.txt" 2>&1
  cuobjdump -sass "$BENCH" 2>/dev/null | awk '/Function : .*decode_mma_kernelILi128ELi4E/{f=1;next} /Function : /{f=0} f' |
    grep -oE '^\s+/\*[0-9a-f]{4,}\*/\s+[A-Z][A-Z0-9_.]*' | awk '{print $2}' | sed -E 's/\..*//' | sort | uniq -c | sort -rn > "$OUT/sass_mix.txt"
fi
if [ "${SKIP_SAN:-0}" != 1 ] && [ -n "${TESTS:-}" ] && [ -x "$TESTS" ]; then
  log "compute-sanitizer memcheck"
  timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 "$TESTS" \
    --gtest_filter='AdaGpu.AdaDecodeHeadWithNoPages*:AdaGpu.EncodeMatchesCpuEncode:AdaGpu.DenseFp16DecodeRejects*:AdaGpu.AdaDecodeMatchesCpuWithMixedTiers*:AdaGpu.TensorCoreKernelOnMixedTiers:AdaGpu.MmaValuesKernelOnPartialPages:AdaGpu.MmaValuesKernelSymmetricBuild*' \
    > "$OUT/sanitizer.log" 2>&1; SAN_RC=$?
  # racecheck of the v7 kernel (TMA page copies, shared-memory reuse at the end of a split)
  timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 "$TESTS" --gtest_filter='AdaGpu.MmaValuesKernelOnPartialPages' \
    >> "$OUT/sanitizer.log" 2>&1 || SAN_RC="$SAN_RC+race$?"
  tail -c 20000 "$OUT/sanitizer.log" > "$OUT/san.tmp"; mv "$OUT/san.tmp" "$OUT/sanitizer.log"
fi

{
  echo "build_ok=$BUILD_OK tests_rc=$TEST_RC sanitizer_rc=$SAN_RC bench_rc=$BENCH_RC sdpa_rc=$SDPA_RC elapsed=$(( $(date +%s) - START ))s"
  [ -f "$OUT/tests.log" ] && grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[==========\]" "$OUT/tests.log" | tail -5
  [ -f "$OUT/sanitizer.log" ] && grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitizer.log" | tail -2
  [ -f "$OUT/core_tests.log" ] && grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[==========\]|Failure|rc=" "$OUT/core_tests.log" | tail -8
  [ -f "$OUT/decoder/summary.txt" ] && tail -20 "$OUT/decoder/summary.txt"
  if [ -f "$OUT/bench.json" ]; then
    python3 - "$OUT/bench.json" "$OUT/sdpa.json" <<'PY'
import json, os, sys
b = json.load(open(sys.argv[1]))
src = json.load(open(sys.argv[2]))["results"] if os.path.exists(sys.argv[2]) else b["results"]
sd = {(r["ctx"], r["hq"], r["hkv"], r["d"], r["batch"]): r["sdpa_us"] for r in src if "sdpa_us" in r}
print(f"{b['device']}  copy {b['copy_gbs']:.0f} GB/s")
print(f"{'ctx':>7} {'heads':>6} {'d':>4} {'B':>2} | {'ada_us':>8} {'v4_us':>8} {'v5_us':>8} {'v6_us':>8} {'%copy':>6} | {'dense_us':>8} {'sdpa_us':>8} | {'x dense':>7} {'x sdpa':>7} | {'enc1_us':>7}")
for r in b["results"]:
    k = (r["ctx"], r["hq"], r["hkv"], r["d"], r["batch"]); t = sd.get(k)
    xs = f"{t / r['ada_us']:7.2f}" if t else "    n/a"
    ts = f"{t:8.2f}" if t else "     n/a"
    print(f"{r['ctx']:>7} {r['hq']:>3}/{r['hkv']:<2} {r['d']:>4} {r['batch']:>2} | {r['ada_us']:8.2f} {r.get('ada_split_v4_us', 0):8.2f} {r.get('ada_v5_us', 0):8.2f} {r.get('ada_v6_us', 0):8.2f} {r['ada_pct_copy']:5.1f}% | {r['dense_us']:8.2f} {ts} | {r['speedup_vs_dense']:7.2f} {xs} | {r['encode_one_token_all_heads_us']:7.2f}")
PY
  fi
} >> "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
