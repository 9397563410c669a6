#!/usr/bin/env bash
# Prepares .carry/ (git-ignored) for the GPU machine, which has CUDA, cmake and python3+torch but
# no network and none of our Debian build deps: unpacks the pinned Debian packages' headers and
# libraries into .carry/sysroot, and copies the Dear ImGui + ImPlot source subset the headless
# frame benchmark compiles (.carry/imgui-bundle, from the bootstrap's checksum-verified sdist) and
# DejaVu Sans (.carry/fonts). Pass `carry: [".carry"]` to the device call; scripts/gpu_check.sh
# and scripts/gpu_studio_frames.sh pick it up. Nothing here is committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/.carry"
debs="${SKV_CACHE:-$HOME/.cache/skv-studio}/gpu-debs"
pkgs=(libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 nlohmann-json3-dev
      libfmt-dev libfmt9 libcli11-dev libgtest-dev googletest libstb-dev libstb0)
mkdir -p "$debs" "$out/sysroot"
(cd "$debs" && for p in "${pkgs[@]}"; do ls "$p"_*.deb >/dev/null 2>&1 || apt-get download "$p"; done) 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
for f in "$debs"/*.deb; do dpkg -x "$f" "$out/sysroot"; done

# Dear ImGui + ImPlot core (no backends but the null one, no test engine, no docs/examples).
ver=$(sed -n 's/^IMGUI_BUNDLE_VERSION=//p' "$here/scripts/bootstrap.sh")
src="${SKV_IMGUI_BUNDLE_DIR:-${SKV_CACHE:-$HOME/.cache/skv-studio}/imgui-bundle-$ver}/external"
[ -f "$src/imgui/imgui/imgui.cpp" ] || { echo "make_gpu_carry: no imgui source at $src (run scripts/bootstrap.sh)" >&2; exit 1; }
dst="$out/imgui-bundle/external"
rm -rf "$out/imgui-bundle"
mkdir -p "$dst/imgui/imgui/backends" "$dst/imgui/imgui/misc/cpp" "$dst/implot/implot"
cp "$src"/imgui/imgui/{imgui*.cpp,imgui*.h,imstb_*.h,imconfig.h,LICENSE.txt} "$dst/imgui/imgui/"
cp "$src"/imgui/imgui/backends/imgui_impl_null.{h,cpp} "$dst/imgui/imgui/backends/"
cp "$src"/imgui/imgui/misc/cpp/imgui_stdlib.{h,cpp} "$dst/imgui/imgui/misc/cpp/"
cp "$src"/implot/implot/*.{h,cpp} "$dst/implot/implot/"
cp "$src"/implot/implot/LICENSE "$dst/implot/implot/" 2>/dev/null || true
# The Studio's font, so the benchmark lays out the same glyphs a user sees (SKV_STUDIO_FONT).
mkdir -p "$out/fonts"
font=$(fc-match -f '%{file}' 'DejaVu Sans' 2>/dev/null || true)
[ -f "$font" ] || font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[ -f "$font" ] && cp "$font" "$out/fonts/DejaVuSans.ttf" || echo "make_gpu_carry: DejaVu Sans not found; the benchmark will use ImGui's font" >&2

echo "make_gpu_carry: $(du -sh "$out" | cut -f1) in .carry/"
