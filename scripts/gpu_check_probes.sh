#!/usr/bin/env bash
# GPU check of the probes on the current tree, on the GPU machine. Results go under $OUT
# (default ./out):
#   probe_validate.json         copy kernel vs counters, timeline vs CUDA events (within 5%),
#                               step/layer tags, per-level overheads (probes/validate/probe_validate.cu)
#   attn_traffic_validate.json  the paged ADA and dense decode kernels of kernels/cuda at contexts
#                               whose KV is several times L2: dram__bytes_read.sum / modeled bytes
#                               in 0.9-1.15, and a PM sampling series (probes/validate/attn_traffic_validate.cu)
#   record_check.json           `skv record --probe cpu|timeline|counters` end to end on the
#                               SmolLM2-135M shape (seeded random weights) on cuda: which streams
#                               the sessions hold, measured/modeled bytes per attention range,
#                               each level's step overhead (only with .carry, see below)
#   environment.txt             GPU, driver, CUDA, profiling-permission setting
# The two validation programs are built with nvcc directly (no CMake dependencies needed). The
# skv CLI needs the Debian deps of scripts/make_gpu_carry.sh: pass `carry: [".carry"]` to the
# device call; without .carry/ the record check is skipped (SKIP_RECORD=1 skips it too).
# Usage: OUT=/some/dir scripts/gpu_check_probes.sh        (CUDA_HOME defaults to /usr/local/cuda)
set -uo pipefail  # a failed stage is reported and the next one still runs
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
BUILD=${BUILD:-$PWD/build-gpu-probes}
mkdir -p "$OUT" "$BUILD"

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>&1 || true
  "$CUDA_HOME/bin/nvcc" --version | tail -2
  grep -i profiling /proc/driver/nvidia/params 2>/dev/null || echo "no /proc/driver/nvidia/params"
  ls "$CUDA_HOME"/lib64/libcupti* "$CUDA_HOME"/targets/*/lib/libcupti* 2>/dev/null || true
} > "$OUT/environment.txt"
cat "$OUT/environment.txt"

# The skv CLI (libtorch, CUDA), built in the background while nvcc builds the validation programs.
record=0
if [ "${SKIP_RECORD:-0}" != 1 ] && [ -d .carry/sysroot ]; then
  record=1
  S=$PWD/.carry/sysroot
  CLI_BUILD=${CLI_BUILD:-$PWD/build-gpu-record}
  (
    export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
    cmake -S . -B "$CLI_BUILD" -G Ninja -DSKV_BUILD_GUI=OFF -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include" \
      -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" > "$OUT/cli_build.log" 2>&1 &&
      cmake --build "$CLI_BUILD" --target skv -j"$(nproc)" >> "$OUT/cli_build.log" 2>&1
  ) &
  build_cli=$!
elif [ "${SKIP_RECORD:-0}" != 1 ]; then
  echo "no .carry/sysroot (scripts/make_gpu_carry.sh): skipping the skv record check"
fi

arch=${ARCH:-native}
NV=("$CUDA_HOME/bin/nvcc" -std=c++20 -O2 -arch="$arch" -I. -I"$CUDA_HOME/include" -DSKV_PROBES_HAVE_CUPTI_HEADERS=1)
KNV=("${NV[@]}" -DNDEBUG -DSKV_HAVE_CUDA=1 --expt-relaxed-constexpr)
# Every compile in parallel: the validation programs and each decode kernel file of kernels/cuda
# (host entry points, split kernel, warp-per-page kernel), then one link.
"${NV[@]}" probes/validate/probe_validate.cu probes/*.cpp -ldl -lpthread -o "$BUILD/skv_probe_validate" &
build1=$!
pids=()
objs=()
for f in probes/validate/attn_traffic_validate.cu kernels/cuda/ada_decode*.cu; do
  o="$BUILD/$(basename "$f" .cu).o"
  "${KNV[@]}" -c "$f" -o "$o" &
  pids+=($!)
  objs+=("$o")
done
attn_ok=1
for p in "${pids[@]}"; do wait "$p" || attn_ok=0; done
if [ "$attn_ok" = 1 ]; then
  "${KNV[@]}" "${objs[@]}" core/probing/attention_traffic_model.cpp probes/*.cpp -ldl -lpthread \
    -o "$BUILD/skv_attn_traffic_validate" || attn_ok=0
fi
probe_ok=1
wait $build1 || probe_ok=0

export LD_LIBRARY_PATH="$CUDA_HOME/lib64:$CUDA_HOME/targets/x86_64-linux/lib:$CUDA_HOME/extras/CUPTI/lib64:${LD_LIBRARY_PATH:-}"
if [ "${SKIP_PROBE_VALIDATE:-0}" != 1 ] && [ "$probe_ok" = 1 ]; then
  "$BUILD/skv_probe_validate" "$OUT/probe_validate.json" > "$OUT/probe_validate.stdout" 2>&1 || echo "probe_validate failed: $?"
  tail -c 1500 "$OUT/probe_validate.stdout"
else
  echo "probe_validate: not built or skipped"
fi
if [ "$attn_ok" = 1 ]; then
  "$BUILD/skv_attn_traffic_validate" "$OUT/attn_traffic_validate.json" > "$OUT/attn_traffic_validate.stdout" 2>&1 ||
    echo "attn_traffic_validate failed: $?"
  tail -c 2500 "$OUT/attn_traffic_validate.stdout"
else
  echo "attn_traffic_validate: build failed"
fi

[ "$record" = 1 ] || exit 0
if ! wait $build_cli; then
  echo "skv build failed:"; grep -E "error|Error" "$OUT/cli_build.log" | head -30; exit 1
fi
export LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
SKV="$CLI_BUILD/bin/skv"
M=${SKV_MODEL:-assets/models/smollm2-135m.json}  # the real GGUF when scripts/device_unpack.sh joined it
# 4000 prompt tokens: the float32 dense KV is 30 x 6.1 MB = 184 MB, over 3x the H100's 50 MB L2.
CTX=${RECORD_CONTEXT:-4000}
SESS=$BUILD/sessions
rm -rf "$SESS"
for level in cpu timeline counters; do
  "$SKV" record --model $M --prompt-tokens "$CTX" --max-new-tokens "${RECORD_STEPS:-24}" --device cuda --policy dense \
    --probe $level --probe-overhead-steps "${OVERHEAD_STEPS:-16}" --out "$SESS/$level" > "$OUT/record_$level.log" 2>&1 ||
    echo "skv record --probe $level failed: $?"
  tail -3 "$OUT/record_$level.log"
done
python3 - "$SESS" "$OUT/record_check.json" <<'PY'
import json, math, os, sys
import numpy as np
root, out = sys.argv[1], sys.argv[2]
res = {}
for level in ("cpu", "timeline", "counters"):
    d = os.path.join(root, level)
    try:
        m = json.load(open(os.path.join(d, "manifest.json")))
    except Exception as e:
        res[level] = {"error": str(e)}; continue
    arrays = m["arrays"]
    load = lambda n: np.load(os.path.join(d, arrays[n]["file"]))
    r = {"complete": m["complete"], "steps": m["steps"], "device": m["environment"]["device"],
         "probe_level": m["summary"].get("probe_level"), "statuses": m["statuses"][:6],
         "overhead": m["summary"].get("probe_overhead"), "bytes_provenance": m["summary"].get("bytes_provenance"),
         "streams": sorted({n.rsplit("/", 1)[0] for n in arrays if n.startswith("probe/")})}
    r["has"] = {n: n in arrays for n in ("series/attn_bytes_read_modeled", "layers/attn_bytes_read_modeled",
                "series/attn_bytes_read_measured", "layers/attn_bytes_read_measured", "series/attn_measured_over_modeled",
                "series/kernel_ms", "probe/kernels/start_ns", "probe/counters/dram_bytes_read", "probe/modeled/bytes")}
    if "series/attn_measured_over_modeled" in arrays:
        ratio = load("series/attn_measured_over_modeled")
        ratio = ratio[np.isfinite(ratio)]
        lr = load("layers/attn_measured_over_modeled")
        lr = lr[np.isfinite(lr)]
        if ratio.size:
            r["step_ratio"] = {"n": int(ratio.size), "min": float(ratio.min()), "median": float(np.median(ratio)), "max": float(ratio.max())}
        if lr.size:
            r["layer_ratio"] = {"n": int(lr.size), "min": float(lr.min()), "median": float(np.median(lr)), "max": float(lr.max())}
        mod = load("series/attn_bytes_read_modeled"); mea = load("series/attn_bytes_read_measured")
        k = np.isfinite(mod) & np.isfinite(mea)
        r["modeled_bytes_per_step_median"] = float(np.median(mod[k])) if k.any() else None
        r["measured_bytes_per_step_median"] = float(np.median(mea[k])) if k.any() else None
    if "series/latency_ms" in arrays:
        lat = load("series/latency_ms")[1:]
        r["decode_ms_median"] = float(np.median(lat)) if lat.size else None
    res[level] = r
c = res.get("counters", {})
res["checks"] = {
    "counters_session_has_measured_modeled_and_ratio": all(c.get("has", {}).get(n, False) for n in (
        "series/attn_bytes_read_modeled", "series/attn_bytes_read_measured", "series/attn_measured_over_modeled",
        "layers/attn_bytes_read_measured", "probe/counters/dram_bytes_read", "probe/modeled/bytes", "probe/kernels/start_ns")),
    "counters_level_reached": c.get("probe_level") == "counters",
    "timeline_session_has_kernels": res.get("timeline", {}).get("has", {}).get("probe/kernels/start_ns", False),
    "cpu_session_has_no_measured_bytes": not res.get("cpu", {}).get("has", {}).get("series/attn_bytes_read_measured", True),
    "overhead_measured_at_every_level": all(res.get(l, {}).get("overhead") for l in ("cpu", "timeline", "counters")),
}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res["checks"]))
for l in ("cpu", "timeline", "counters"):
    r = res.get(l, {})
    print(l, r.get("probe_level"), "ratio", r.get("step_ratio"), "overhead",
          {k: r.get("overhead", {}).get(k) for k in ("ns_per_step_off", "ns_per_step_on", "overhead_pct", "mean_overhead_pct")} if r.get("overhead") else None)
PY
