#!/usr/bin/env bash
# Prepares .carry/ (git-ignored) for the GPU machine, which has CUDA, cmake and python3+torch but
# no network and none of our Debian build deps: unpacks the pinned Debian packages' headers and
# libraries into .carry/sysroot. Pass `carry: [".carry"]` to the device call; scripts/gpu_check.sh
# picks it up. Nothing here is committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/.carry"
debs="${SKV_CACHE:-$HOME/.cache/skv-studio}/gpu-debs"
pkgs=(libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 nlohmann-json3-dev
      libfmt-dev libfmt9 libcli11-dev libgtest-dev googletest libstb-dev libstb0)
mkdir -p "$debs" "$out/sysroot"
(cd "$debs" && for p in "${pkgs[@]}"; do ls "$p"_*.deb >/dev/null 2>&1 || apt-get download "$p"; done) 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
for f in "$debs"/*.deb; do dpkg -x "$f" "$out/sysroot"; done
echo "make_gpu_carry: $(du -sh "$out" | cut -f1) in .carry/"
