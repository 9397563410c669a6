#!/usr/bin/env bash
# GPU check of the decoder and CLI, on the GPU machine (no network, no GLFW; python3 has torch):
# needs .carry/ from scripts/make_gpu_carry.sh (carry: [".carry"]). Builds the skv CLI with CUDA
# and runs `skv bench decode` on the GPU (and on its CPU for comparison); results under $OUT.
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
cmake -S . -B $B -G Ninja -DSKV_BUILD_GUI=OFF -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_CXX_FLAGS="-isystem $S/usr/include" -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
cmake --build $B --target skv -j16 > "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
M=${SKV_MODEL:-assets/models/smollm2-135m.json}  # the real GGUF when scripts/device_unpack.sh joined it
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
[ "${SKIP_BENCH:-0}" = 1 ] || $B/bin/skv bench decode --model $M --context 512,4096 --decode-tokens 64 --device cuda --json "$OUT/decode_cuda.json"
[ "${SKIP_BENCH:-0}" = 1 ] || $B/bin/skv bench decode --model $M --context 512 --decode-tokens 16 --device cpu --json "$OUT/decode_cpu16.json"
$B/bin/skv bench decode --model $M --context 512 --device cuda --decode-tokens 8 > /dev/null 2>&1 || true
# ADA through the decoder on the GPU: the same seeded random prompt recorded with ADA K3V4
# attention on the CUDA kernels and on the CPU reference; each records KL / top-1 against its own
# full-cache reference, so the two summaries must agree closely if the GPU path is right.
for dev in cuda cpu; do
  timeout 240 $B/bin/skv record --model $M --prompt-tokens 700 --max-new-tokens 16 --policy ada:k3v4 \
    --device $dev --probe off --out "$OUT/ada_$dev" > "$OUT/record_ada_$dev.txt" 2>&1
  echo "record ada:k3v4 on $dev: rc=$?"; tail -5 "$OUT/record_ada_$dev.txt"
done
python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
r = {}
for dev in ("cuda", "cpu"):
    d = f"{out}/ada_{dev}/series"
    r[dev] = {k: np.load(f"{d}/{k}.npy").astype(float) for k in ("kl", "top1_agree", "nll", "nll_full")}
    print(f"{dev:4s}: mean KL {r[dev]['kl'].mean():.5f}  top-1 {r[dev]['top1_agree'].mean():.3f}  "
          f"nll {r[dev]['nll'].mean():.4f} (full {r[dev]['nll_full'].mean():.4f})")
ids = {dev: np.load(f"{out}/ada_{dev}/tokens/ids.npy") for dev in ("cuda", "cpu")}
print("same generated ids:", bool(np.array_equal(ids["cuda"], ids["cpu"])),
      " max |KL cuda - KL cpu|:", float(np.abs(r["cuda"]["kl"] - r["cpu"]["kl"]).max()))
PY
for dev in cuda cpu; do rm -rf "$OUT/ada_$dev"; done  # keep $OUT small
echo done
