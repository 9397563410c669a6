#!/usr/bin/env bash
# Builds what is missing and runs every test (CPU; GPU tests skip themselves without a GPU;
# GUI tests run in a real window under Xvfb).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SKV_BUILD_DIR:-$here/build}"
bash "$here/scripts/build.sh" "$@"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900
