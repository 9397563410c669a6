#!/usr/bin/env bash
# GPU check of the decoder and CLI, on the GPU machine (no network, no GLFW; python3 has torch):
# needs .carry/ from scripts/make_gpu_carry.sh (carry: [".carry"]). Builds the skv CLI with CUDA
# and runs `skv bench decode` on the GPU (and on its CPU for comparison), dense and ADA (CUDA kernels
# vs CPU reference attention), and records ADA runs on both attention paths; results under $OUT.
# The default model's file (98 MB) is over the 64 MiB a call can carry, so the benchmark uses the
# SmolLM2-135M shape with seeded random weights (the same tensors and FLOPs, other values), unless
# SKV_MODEL names the real GGUF (scripts/device_pack.sh + device_unpack.sh bring it in two calls).
set -u
OUT=${OUT:-$PWD/gpu-decoder-out}
mkdir -p "$OUT"
S=$PWD/.carry/sysroot
export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
export LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
B=build-gpu-decoder
SKV=${SKV_BIN:-$B/bin/skv}  # SKV_BIN: a CLI built already (scripts/gpu_check.sh DECODER=1): no build here
[ -n "${SKV_BIN:-}" ] || { cmake -S . -B $B -G Ninja -DSKV_BUILD_GUI=OFF -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include" -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
cmake --build $B --target skv -j16 > "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }; }
M=${SKV_MODEL:-assets/models/smollm2-135m.json}  # the real GGUF when scripts/device_unpack.sh joined it
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
[ "${SKIP_BENCH:-0}" = 1 ] || $SKV bench decode --model $M --context 512,4096 --decode-tokens 64 --device cuda --json "$OUT/decode_cuda.json"
[ "${SKIP_BENCH:-0}" = 1 ] || $SKV bench decode --model $M --context 512 --decode-tokens 16 --device cpu --json "$OUT/decode_cpu16.json"
$SKV bench decode --model $M --context 512 --device cuda --decode-tokens 8 > /dev/null 2>&1 || true
# Decode throughput with ADA K3V4 on the GPU: attention on the CUDA kernels, and on the CPU
# reference code (--attention reference), same model and prompt.
for att in cuda reference; do
  timeout 150 $SKV bench decode --model $M --context 512,4096 --decode-tokens 48 --device cuda --kv ada --tier k3v4 \
    --attention $att --json "$OUT/decode_ada_$att.json" 2>&1 | tail -3
done
# The real model (when SKV_MODEL is its GGUF): the same chat prompt (~300 tokens, so most of it is
# sealed into coded pages at the first decode step), greedy, dense vs ADA K3V4 on
# the CUDA kernels (the text and the attention path the CLI reports).
if [ -n "${SKV_MODEL:-}" ]; then
  for kv in dense ada; do
    timeout 120 $SKV generate --model $M --chat --prompt "Summarize this text in two sentences: $(head -c 1500 README.md)" \
      --max-new-tokens 48 --device cuda --kv $kv --tier k3v4 > "$OUT/generate_$kv.txt" 2>&1
    echo "generate --kv $kv: rc=$?"; cat "$OUT/generate_$kv.txt"
  done
fi
# ADA through the decoder on the GPU: the same seeded random prompt recorded with ADA K3V4
# attention on the CUDA kernels (--attention cuda) and on the CPU reference (--attention
# reference), both with the model on the GPU; each records KL / top-1 against its own full-cache
# reference, so the two summaries must agree closely if the GPU path is right.
for att in cuda reference; do
  timeout 240 $SKV record --model $M --prompt-tokens 700 --max-new-tokens 16 --policy ada:k3v4 \
    --device cuda --attention $att --probe off --out "$OUT/ada_$att" > "$OUT/record_ada_$att.txt" 2>&1
  echo "record ada:k3v4 attention $att: rc=$?"; tail -3 "$OUT/record_ada_$att.txt"
done
python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
r = {}
for dev in ("cuda", "reference"):
    d = f"{out}/ada_{dev}/series"
    r[dev] = {k: np.load(f"{d}/{k}.npy").astype(float) for k in ("kl", "top1_agree", "nll", "nll_full")}
    print(f"{dev:4s}: mean KL {r[dev]['kl'].mean():.5f}  top-1 {r[dev]['top1_agree'].mean():.3f}  "
          f"nll {r[dev]['nll'].mean():.4f} (full {r[dev]['nll_full'].mean():.4f})")
ids = {dev: np.load(f"{out}/ada_{dev}/tokens/ids.npy") for dev in ("cuda", "reference")}
print("same generated ids:", bool(np.array_equal(ids["cuda"], ids["reference"])),
      " max |KL cuda - KL reference|:", float(np.abs(r["cuda"]["kl"] - r["reference"]["kl"]).max()))
PY
for att in cuda reference; do rm -rf "$OUT/ada_$att"; done  # keep $OUT small
echo done
