#!/usr/bin/env bash
# Prepares what a real-window run of skv-studio on the GPU machine needs (scripts/gpu_studio_gl.sh;
# that machine has the NVIDIA driver, CUDA, cmake, python3+torch, but no network, no X server, no
# GLFW and none of our Debian build deps). Two git-ignored folders, both kept small by carrying
# compressed files: the Debian bookworm .debs are unpacked here with `dpkg -x`, trimmed and packed
# with xz; gpu_studio_gl.sh unpacks them there with tar into /tmp/skv-gl (never into /):
#   .carry-gl/gl.tar.xz       GLFW + GL/GLX/X11 headers and libs (glvnd), Xvfb and the libs a
#                             minimal driver image lacks, xkbcomp + xkb-data (Debian bookworm)
#   .carry-gl/imgui-gl.tar.xz the imgui-bundle parts .carry's subset omits: the GLFW + OpenGL 3
#                             backends and the ImGui Test Engine (skv-studio links it)
#   .carry-gl/carry.tar.xz    .carry/ itself (make_gpu_carry.sh), compressed, so a call can bring
#                             .carry-gl and a model part (.carry-m1) instead of .carry
#   .carry-mesa/mesa.tar.xz   Mesa's swrast_dri.so + LLVM 15 and their libs (~48 MB): Xvfb's own
#                             GLX extension loads it; also the client fallback (llvmpipe)
# Nothing here is committed. Sizes are printed at the end (a call carries 64 MiB in all).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SKV_CACHE:-$HOME/.cache/skv-studio}"
gl_pkgs=(
  # build: GLFW's and FindOpenGL's headers, .so links and CMake config (glvnd split)
  libglfw3-dev libgl-dev libglx-dev libopengl-dev libx11-dev x11proto-dev libxau-dev libxdmcp-dev libxcb1-dev
  # run: GLFW (it dlopens Xrandr/Xinerama/Xcursor/Xi/X11-xcb/Xxf86vm), the glvnd dispatch libs
  libglfw3 libgl1 libglx0 libopengl0 libglvnd0 libx11-6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0
  libxrandr2 libxinerama1 libxcursor1 libxi6 libxrender1 libxext6 libxfixes3 libx11-xcb1 libxxf86vm1
  # Xvfb and its libs (gpu_studio_gl.sh puts on LD_LIBRARY_PATH only those the machine lacks)
  xvfb libxfont2 libpixman-1-0 libunwind8 libfontenc1 libfreetype6 libpng16-16 libbrotli1 libaudit1
  libcap-ng0 libgcrypt20 libgpg-error0 libselinux1 libsystemd0 liblz4-1 libcap2
  # the keymap compiler Xvfb runs at start and its data
  x11-xkb-utils libxkbfile1 xkb-data)
mesa_pkgs=(libgl1-mesa-dri libglapi-mesa libglx-mesa0 libllvm15 libz3-4 libicu72 libxml2 libedit2 libsensors5
  libdrm2 libdrm-amdgpu1 libdrm-intel1 libdrm-nouveau2 libdrm-radeon1 libpciaccess0 libelf1 libxcb-dri3-0
  libxcb-dri2-0 libxcb-glx0 libxcb-present0 libxcb-sync1 libxcb-xfixes0 libxcb-randr0 libxcb-shm0
  libxshmfence1 libffi8 libtinfo6 libexpat1)

stage() {  # name out.tar.xz pkgs...: the .debs (downloaded once into the cache) unpacked with
           # dpkg -x into a staging folder, trimmed, and packed into one xz tarball
  local name=$1 tarball=$2 dl="$cache/gpu-gl-debs" st; shift 2
  st="$cache/gpu-gl-stage/$name"
  mkdir -p "$dl" "$(dirname "$tarball")"
  (cd "$dl" && for p in "$@"; do ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"; done) 2>&1 |
    grep -v -E '^W: Download is performed unsandboxed|^Get:|^Fetched' || true
  rm -rf "$st" && mkdir -p "$st"
  for p in "$@"; do dpkg -x "$(ls "$dl/${p}"_*.deb | head -1)" "$st"; done
  # Not needed to build or run: docs, man pages, static libs, bug/lintian files, the other Mesa
  # drivers (hard links of swrast_dri.so), ICU's i18n/io/test libs (libxml2 needs only icuuc).
  rm -rf "$st"/usr/share/{doc,man,info,lintian,bug,bash-completion,locale} "$st"/usr/lib/x86_64-linux-gnu/*.a
  find "$st"/usr/lib/x86_64-linux-gnu/dri -name '*_dri.so' ! -name swrast_dri.so -delete 2>/dev/null || true
  find "$st"/usr/lib/x86_64-linux-gnu/dri -name '*.so' ! -name swrast_dri.so -delete 2>/dev/null || true
  rm -f "$st"/usr/lib/x86_64-linux-gnu/libicu{i18n,io,test,tu}.so*
  (cd "$st" && tar -cf - .) | xz -T2 -9 > "$tarball"
  echo "make_gpu_gl_carry: $name: $(du -sh "$st" | cut -f1) unpacked, $(du -sh "$tarball" | cut -f1) packed"
}
rm -rf "$here/.carry-gl" "$here/.carry-mesa"
stage gl "$here/.carry-gl/gl.tar.xz" "${gl_pkgs[@]}"
stage mesa "$here/.carry-mesa/mesa.tar.xz" "${mesa_pkgs[@]}"

ver=$(sed -n 's/^IMGUI_BUNDLE_VERSION=//p' "$here/scripts/bootstrap.sh")
bundle="${SKV_IMGUI_BUNDLE_DIR:-$cache/imgui-bundle-$ver}"
[ -f "$bundle/external/imgui/imgui/backends/imgui_impl_glfw.cpp" ] ||
  { echo "make_gpu_gl_carry: no imgui-bundle source at $bundle (run scripts/bootstrap.sh)" >&2; exit 1; }
te=external/imgui_test_engine/imgui_test_engine/imgui_test_engine
(cd "$bundle" && tar -cJf "$here/.carry-gl/imgui-gl.tar.xz" \
  external/imgui/imgui/backends/imgui_impl_glfw.{h,cpp} external/imgui/imgui/backends/imgui_impl_opengl3{.h,.cpp,_loader.h} \
  $te/*.h $te/*.cpp $te/LICENSE.txt $te/thirdparty)

[ -d "$here/.carry/sysroot" ] || { echo "make_gpu_gl_carry: no .carry/ (run scripts/make_gpu_carry.sh first)" >&2; exit 1; }
# Without what the GUI build does not use (GoogleTest: tests are OFF there; docs).
(cd "$here" && tar -cf - --exclude=.carry/sysroot/usr/share/doc --exclude=.carry/sysroot/usr/share/man \
  --exclude=.carry/sysroot/usr/src/googletest --exclude='.carry/sysroot/usr/lib/x86_64-linux-gnu/libg[mt]*' \
  --exclude=.carry/sysroot/usr/include/gtest --exclude=.carry/sysroot/usr/include/gmock .carry | xz -T2 -9 > .carry-gl/carry.tar.xz)

for d in .carry .carry-gl .carry-mesa; do
  echo "make_gpu_gl_carry: $d $(du -sb "$here/$d" | cut -f1) bytes ($(du -sh "$here/$d" | cut -f1))"
done
