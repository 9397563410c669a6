#!/usr/bin/env bash
# RDR fidelity grid (docs/RDR_RESULTS.md): `rdr` with its defaults (core/policies/rdr_defaults.h)
# and every peer policy of the CLI, teacher-forced against the full fp16 cache (the reference
# every run computes), on prose_lighthouse.txt and code_event_queue.txt at 25% and 12.5% of the
# fp16 cache bytes. Meant for the GPU machine (16 cores + H100, one call, <= 9 min wall):
# one `skv eval` process per (cell, policy), JOBS at a time with THREADS torch threads each,
# the heaviest first, every process cut off at the deadline (DEADLINE_S after the start of the
# grid) so a slow policy loses its own row, not the grid. The decoder runs on DEV (cuda, probed
# first, else cpu); the tiered cache and the policies run on the CPU either way.
#
# Output (at most 5 files in $OUT, the device returns 8): rdr_grid.json (every result of every
# cell, merged; per-step KL in kl_steps), summary.md (policy x cell: KL (max step) / top-1 /
# ppl delta / resident %), logs.tar.gz
# (each process's stdout/stderr), device.txt, build.log when it builds.
#
# Inputs (environment):
#   SKV_MODEL_GGUF  the SmolLM2-135M-Instruct GGUF (default: the CLI's default model)
#   SKV             a built skv binary (default: build it here into build-gpu-rdr from .carry/,
#                   scripts/make_gpu_carry.sh; an existing build-gpu-rdr/bin/skv is reused;
#                   BUILD_ONLY=1 stops after the build, for a device call of its own)
#   STEPS=128 TOKENS=2048 JOBS=16 THREADS=1 DEV=auto|cuda|cpu
#   DEADLINE_S=480 (counted from the grid's start, after any build: lower it when this call builds)
#   TEXTS="prose_lighthouse.txt code_event_queue.txt" BUDGETS="0.25 0.125"
#   POLICIES (default: rdr and every peer) EXTRA (more entries, e.g. "rdr~profile=none rdr-c")
#   WORK (per-process files; default a temporary folder, removed at the end)
# Local check of the shell logic (CPU, minutes):
#   SKV=build/bin/skv DEV=cpu STEPS=2 TOKENS=256 JOBS=2 TEXTS=prose_lighthouse.txt BUDGETS=0.25 \
#     POLICIES="rdr snapkv" OUT=/tmp/grid nice -n 5 bash scripts/gpu_rdr_eval.sh
set -u
OUT=${OUT:-$PWD/gpu-rdr-out}
mkdir -p "$OUT"
STEPS=${STEPS:-128}
TOKENS=${TOKENS:-2048}
JOBS=${JOBS:-16}
THREADS=${THREADS:-1}
DEADLINE_S=${DEADLINE_S:-480}
DEV=${DEV:-auto}
TEXTS=${TEXTS:-"prose_lighthouse.txt code_event_queue.txt"}
BUDGETS=${BUDGETS:-"0.25 0.125"}
# Heaviest first (the RD allocators measure tier distortions and bisect lambda at every re-tiering).
POLICIES=${POLICIES:-"rdr rdkv kivi4 kivi2 tri pyramidkv snapkv h2o streaming quest quest-c"}
EXTRA=${EXTRA:-}
t0=$(date +%s)

MODEL_ARGS=()
if [ -n "${SKV_MODEL_GGUF:-}" ]; then
  [ -f "$SKV_MODEL_GGUF" ] || { echo "gpu_rdr_eval: no file $SKV_MODEL_GGUF" >&2; exit 1; }
  MODEL_ARGS=(--model "$SKV_MODEL_GGUF")
fi

# The carried sysroot's libraries (scripts/make_gpu_carry.sh), for building and for running.
[ -d "$PWD/.carry/sysroot" ] && export LD_LIBRARY_PATH=$PWD/.carry/sysroot/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
if [ -z "${SKV:-}" ]; then
  B=build-gpu-rdr
  if [ ! -x $B/bin/skv ]; then
    S=$PWD/.carry/sysroot
    [ -d "$S" ] || { echo "gpu_rdr_eval: set SKV=path/to/skv, or bring .carry/ (scripts/make_gpu_carry.sh)" >&2; exit 1; }
    export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
    { cmake -S . -B $B -G Ninja -DSKV_BUILD_GUI=OFF -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include" \
        -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" &&
      cmake --build $B --target skv -j16; } > "$OUT/build.log" 2>&1 ||
      { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
    echo "build: $(( $(date +%s) - t0 )) s"
  fi
  SKV=$PWD/$B/bin/skv
fi
[ "${BUILD_ONLY:-0}" = 1 ] && { echo "built $SKV"; exit 0; }
[ -x "$SKV" ] || { echo "gpu_rdr_eval: $SKV is not an executable" >&2; exit 1; }
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; nproc; } > "$OUT/device.txt"
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

CLEAN_WORK=0
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d); CLEAN_WORK=1; fi
mkdir -p "$WORK"

if [ "$DEV" = auto ]; then  # a 256-token, 2-step cell on cuda; cpu when it fails
  DEV=cpu
  if timeout 120 "$SKV" eval "${MODEL_ARGS[@]}" --device cuda --text prose_lighthouse.txt --max-tokens 256 --steps 2 \
       --policy snapkv --decoded-scoring --quiet > "$WORK/probe_cuda.txt" 2>&1; then
    DEV=cuda
  else
    echo "cuda probe failed (decoder on the CPU):"; tail -3 "$WORK/probe_cuda.txt"
  fi
fi
grid0=$(date +%s)
END=$(( grid0 + DEADLINE_S ))
echo "skv: $SKV; decoder on $DEV; $STEPS steps of $TOKENS tokens; $JOBS processes x $THREADS threads; deadline ${DEADLINE_S} s"

# Jobs: one line "TEXT BUDGET POLICY" each, every cell's heavy policies before any light one.
jobs_file=$WORK/jobs.txt
: > "$jobs_file"
set -f  # entries like util=snapkv*0.8+recency*0.2 are not file patterns
for p in $POLICIES $EXTRA; do
  for t in $TEXTS; do for b in $BUDGETS; do echo "$t $b $p" >> "$jobs_file"; done; done
done
set +f

run_job() {
  set -f
  set -- $1
  local text=$1 budget=$2 policy=$3
  local name="${text%.txt}__${budget}__$(printf '%s' "$policy" | tr -c 'A-Za-z0-9._-' '_')"
  local left=$(( END - $(date +%s) ))
  if [ "$left" -le 5 ]; then echo "$name: skipped (deadline)"; return; fi
  local s=$(date +%s)
  timeout "$left" "$SKV" eval "${MODEL_ARGS[@]}" --device "$DEV" --text "$text" --max-tokens "$TOKENS" --steps "$STEPS" \
    --budget "$budget" --policy "$policy" --decoded-scoring --quiet --json "$WORK/$name.json" > "$WORK/$name.txt" 2>&1
  echo "$name: rc=$? $(( $(date +%s) - s )) s (at $(( $(date +%s) - grid0 )) s)"
}
export -f run_job
export SKV DEV TOKENS STEPS END grid0 WORK
export MODEL_ARGS_STR="${MODEL_ARGS[*]:-}"
# (arrays do not export: rebuild MODEL_ARGS inside each job from the string; the path has no spaces)
xargs -P "$JOBS" -I{} bash -c 'MODEL_ARGS=($MODEL_ARGS_STR); run_job "{}"' < "$jobs_file"
echo "grid: $(( $(date +%s) - grid0 )) s"

tar -czf "$OUT/logs.tar.gz" -C "$WORK" $(cd "$WORK" && ls *.txt) 2>/dev/null
python3 - "$WORK" "$OUT" "$jobs_file" <<'EOF'
import json, os, sys
work, out, jobs_file = sys.argv[1:4]
jobs = [l.split(None, 2) for l in open(jobs_file).read().splitlines() if l.strip()]
cells, policies, grid = [], [], {"cells": {}}
for text, budget, policy in jobs:
    cell = f"{text.replace('.txt', '')} {float(budget) * 100:g}%"
    if cell not in cells: cells.append(cell)
    if policy not in policies: policies.append(policy)
    slug = "".join(c if c.isalnum() or c in "._-" else "_" for c in policy)
    path = os.path.join(work, f"{text[:-4] if text.endswith('.txt') else text}__{budget}__{slug}.json")
    entry = grid["cells"].setdefault(cell, {"text": text, "budget": float(budget), "results": {}})
    if not os.path.exists(path):
        entry["results"][policy] = None
        continue
    j = json.load(open(path))
    r = j["results"][0]
    r["policy"] = policy
    for k in ("source", "device", "prefix_tokens", "steps", "hot_window", "sinks", "retier_every", "rdr_defaults"):
        if k in j: entry.setdefault(k, j[k])
    entry["results"][policy] = r
json.dump(grid, open(os.path.join(out, "rdr_grid.json"), "w"), indent=1)

def best(cell):
    ks = [(r["kl"], p) for p, r in grid["cells"][cell]["results"].items() if r]
    return min(ks)[1] if ks else None
lines = ["KL mean over steps (max step) / top-1 / ppl delta / resident % of the fp16 cache; ** = lowest KL of the cell; "
         "- = no result (failed or past the deadline: logs.tar.gz)", "",
         "| policy | " + " | ".join(cells) + " |", "|---" * (len(cells) + 1) + "|"]
for p in policies:
    row = []
    for c in cells:
        r = grid["cells"][c]["results"].get(p)
        if not r:
            row.append("-")
            continue
        kl = f"{r['kl']:.4g}"
        if best(c) == p: kl = f"**{kl}**"
        row.append(f"{kl} ({r['kl_max']:.2g}) / {100 * r['top1']:.1f}% / {r['ppl_delta']:+.3f} / {100 * r['resident_bytes'] / r['full_fp16_bytes']:.1f}%")
    lines.append(f"| {p} | " + " | ".join(row) + " |")
full = []
for c in cells:
    rs = [r for r in grid["cells"][c]["results"].values() if r]
    if rs: full.append(f"{c}: full-cache ppl {rs[0]['ppl_full']:.4f}, {rs[0]['steps']} steps")
lines += ["", "; ".join(full)]
text = "\n".join(lines) + "\n"
open(os.path.join(out, "summary.md"), "w").write(text)
print(text)
EOF
[ "$CLEAN_WORK" = 1 ] && rm -rf "$WORK"
echo "done in $(( $(date +%s) - t0 )) s; $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
