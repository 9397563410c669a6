#!/usr/bin/env bash
# Builds what is missing: bootstrap (idempotent, seconds when nothing to do), configure once, build.
#   scripts/build.sh [extra cmake -D options for the first configure]
# SKV_BUILD_DIR picks the build folder (default: build/ in the checkout).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SKV_CACHE:-$HOME/.cache/skv-studio}"
build="${SKV_BUILD_DIR:-$here/build}"
bash "$here/scripts/bootstrap.sh" >&2

launcher=()
if command -v ccache >/dev/null; then
  # The compiler cache lives beside the other caches, so a fresh clone rebuilds in minutes.
  export CCACHE_DIR="$cache/ccache" CCACHE_MAXSIZE=5G
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -C "$cache/paths.cmake" "${launcher[@]}" "$@" >&2
fi
cmake --build "$build" -j"$(nproc)" >&2
