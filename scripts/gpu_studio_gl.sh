#!/usr/bin/env bash
# skv-studio in a real GLFW + OpenGL window on the GPU machine (no display, no X server, no GLFW,
# no network): from the source root, with the folders of scripts/make_gpu_gl_carry.sh beside it
# (.carry-gl: GL/X11/GLFW, Xvfb, xkb from Debian packages, the imgui GL backends + Test Engine,
# .carry compressed; .carry-mesa: Mesa swrast + LLVM, which Xvfb's GLX extension loads). Steps:
#   1. unpack the tarballs into $G (default /tmp/skv-gl; never into /), once each, so a later
#      call that carries only a model part finds the earlier ones
#   2. build skv-studio (GUI ON, CUDA ON) in build-gpu-gl against .carry/sysroot and $G
#   3. start the carried Xvfb (+extension GLX, carried xkb data and xkbcomp) on a free display
#   4. run skv-studio --device cuda --run $STEPS --screenshot --frame-stats with NVIDIA's GLX
#      (__GLX_VENDOR_LIBRARY_NAME=nvidia); if that fails and Mesa is here, again with Mesa
#      llvmpipe (__GLX_VENDOR_LIBRARY_NAME=mesa LIBGL_ALWAYS_SOFTWARE=1), so the run still says
#      which GL drew. Summary (renderer, fps while decoding, frame p50/p95, tokens/s) in summary.txt.
# Env: OUT (results, <= 8 files), SKV_MODEL_GGUF (else /tmp/skv-model.gguf from
# scripts/device_unpack.sh, else the SmolLM2-135M shape with seeded random weights), DEVICE (cuda),
# STEPS (200), DEADLINE (540 s), BUILD_ONLY=1, VENDORS ("nvidia mesa"), G, SKV_STUDIO_BIN (skip the build).
# PROMPT_FILE (the prompt; default the Studio's shipped text). Local
# check without CUDA, every carried lib in front of the system's:
#   SKV_STUDIO_BIN=build-gui/bin/skv-studio CARRIED_ONLY=1 DEVICE=cpu STEPS=5 VENDORS=mesa bash scripts/gpu_studio_gl.sh
set -u
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-studio-gl-out}
G=${G:-/tmp/skv-gl}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-200}
DEADLINE=${DEADLINE:-540}   # seconds after start: each run's --timeout fits what is left
VENDORS=${VENDORS:-nvidia mesa}
mkdir -p "$OUT" "$G/root"
START=$(date +%s)
log() { echo "[gpu_studio_gl $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
R=$G/root                      # the unpacked packages
L=$R/usr/lib/x86_64-linux-gnu

# --- 1. unpack -----------------------------------------------------------------------------------
unpack() {  # tarball marker: once per tarball (a later call may carry only a model part)
  [ -f "$1" ] || return 0
  local sum; sum=$(ls -l "$1" | md5sum | cut -c1-32)
  [ "$(cat "$G/.$2" 2>/dev/null)" = "$sum" ] && return 0
  log "unpack $1 into $R"
  tar -xJf "$1" -C "$R" || { log "cannot unpack $1"; exit 1; }
  echo "$sum" > "$G/.$2"
}
unpack .carry-gl/gl.tar.xz gl
unpack .carry-mesa/mesa.tar.xz mesa
if [ ! -d .carry/sysroot ] && [ -f .carry-gl/carry.tar.xz ]; then log "unpack .carry-gl/carry.tar.xz"; tar -xJf .carry-gl/carry.tar.xz; fi
if [ -f .carry-gl/imgui-gl.tar.xz ] && [ ! -f "$G/imgui-bundle/.done" ]; then
  rm -rf "$G/imgui-bundle" && cp -r .carry/imgui-bundle "$G/imgui-bundle" &&
    tar -xJf .carry-gl/imgui-gl.tar.xz -C "$G/imgui-bundle" && touch "$G/imgui-bundle/.done"
fi
[ -x "$R/usr/bin/Xvfb" ] || { log "no Xvfb under $R: carry .carry-gl (scripts/make_gpu_gl_carry.sh)"; exit 1; }
# Only the carried libs this machine lacks go on LD_LIBRARY_PATH (the rest stay the system's).
rm -rf "$G/lib" && mkdir -p "$G/lib"
have() { [ "${CARRIED_ONLY:-0}" = 1 ] && return 1  # local check: every carried lib, none of the system's
         ldconfig -p 2>/dev/null | grep -q "^[[:space:]]$1 " && return 0
         local d p=${LD_LIBRARY_PATH:-}; for d in ${p//:/ }; do [ -e "$d/$1" ] && return 0; done; return 1; }
for f in "$L"/*.so.[0-9]* "$R"/lib/x86_64-linux-gnu/*.so.[0-9]*; do [ -e "$f" ] || continue; b=$(basename "$f"); have "$b" || ln -sf "$f" "$G/lib/$b"; done
NV=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && NV="$NV:$d"; done
RUNLIB="$G/lib$NV:${LD_LIBRARY_PATH:-}"
log "carried libs used (the machine lacks them): $(ls "$G/lib" | grep -c .); NVIDIA GLX: $( (ldconfig -p; ls ${NV//:/ } 2>/dev/null) | grep -o 'libGLX_nvidia.so[.0-9]*' | head -1 || true)"

# --- 2. build ------------------------------------------------------------------------------------
S=$ROOT/.carry/sysroot
BIN=${SKV_STUDIO_BIN:-}
if [ -z "$BIN" ]; then
  B=build-gpu-gl
  export PKG_CONFIG_PATH=$S/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S
  export SKV_STUDIO_FONT=$ROOT/.carry/fonts/DejaVuSans.ttf
  log "configure $B"
  LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:$RUNLIB \
  cmake -S . -B $B -G Ninja -DSKV_BUILD_GUI=ON -DSKV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
    -DSKV_IMGUI_BUNDLE_DIR="$G/imgui-bundle" -DCMAKE_PREFIX_PATH="$S/usr;$R/usr" \
    -DCMAKE_CXX_FLAGS="-isystem $S/usr/include -isystem $R/usr/include" \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$L -Wl,-rpath-link,$S/usr/lib/x86_64-linux-gnu" \
    -DSKV_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" > "$OUT/build.log" 2>&1 ||
    { tail -40 "$OUT/build.log"; log "configure failed"; exit 1; }
  grep -E "SKV: (GUI|CUDA)" "$OUT/build.log" | tee -a "$OUT/summary.txt"
  grep -q "SKV: GUI ON" "$OUT/build.log" || { log "GUI is OFF (GLFW/OpenGL not found under $R)"; exit 1; }
  log "build skv-studio"
  LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu:$RUNLIB cmake --build $B --target skv-studio -j"$(nproc)" >> "$OUT/build.log" 2>&1 ||
    { grep -E "error|Error" "$OUT/build.log" | head -40; log "build failed"; exit 1; }
  BIN=$B/bin/skv-studio
fi
log "binary $BIN"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$OUT/summary.txt"
[ "${BUILD_ONLY:-0}" = 1 ] && { log "built (BUILD_ONLY=1)"; exit 0; }

# --- 3. Xvfb -------------------------------------------------------------------------------------
# Xvfb runs "/usr/bin/xkbcomp" (a compiled-in path, no option): a copy of it with that path
# renamed to /tmp/xkb (same length) runs the carried xkbcomp through a wrapper instead.
mkdir -p /tmp/xkb
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$RUNLIB" "$R/usr/bin/xkbcomp" > /tmp/xkb/xkbcomp && chmod +x /tmp/xkb/xkbcomp
python3 - "$R/usr/bin/Xvfb" "$G/Xvfb" <<'EOF' || { log "cannot patch Xvfb"; exit 1; }
import sys
b = open(sys.argv[1], 'rb').read()
assert b.count(b'/usr/bin\0') == 1, 'expected one /usr/bin in Xvfb'
open(sys.argv[2], 'wb').write(b.replace(b'/usr/bin\0', b'/tmp/xkb\0'))
EOF
chmod +x "$G/Xvfb"
DRI=$L/dri
log "start Xvfb (GLX provider: $([ -f "$DRI/swrast_dri.so" ] && echo "carried Mesa swrast" || echo "none carried: no GLX unless the machine has one"))"
exec 5> "$G/display"
LD_LIBRARY_PATH=$RUNLIB LIBGL_DRIVERS_PATH=$DRI "$G/Xvfb" -displayfd 5 -screen 0 1920x1080x24 +extension GLX -nolisten tcp \
  -xkbdir "$R/usr/share/X11/xkb" -fp built-ins > "$G/xvfb.log" 2>&1 &
XPID=$!
exec 5>&-
trap 'kill $XPID 2>/dev/null; { echo "--- Xvfb log"; tail -20 "$G/xvfb.log"; } >> "$OUT/summary.txt"' EXIT
for _ in $(seq 50); do [ -s "$G/display" ] && break; kill -0 $XPID 2>/dev/null || break; sleep 0.2; done
[ -s "$G/display" ] || { tail -20 "$G/xvfb.log"; log "Xvfb did not start"; exit 1; }
export DISPLAY=:$(head -1 "$G/display")
log "Xvfb on $DISPLAY (pid $XPID); $(grep -i -E 'glx|swrast|dri' "$G/xvfb.log" | head -3 | tr '\n' ' ')"

# --- 4. runs -------------------------------------------------------------------------------------
M=${SKV_MODEL_GGUF:-}
[ -z "$M" ] && [ -f /tmp/skv-model.gguf ] && M=/tmp/skv-model.gguf
if [ -n "$M" ] && [ -f "$M" ]; then log "model: $M"
else [ -n "$M" ] && log "model $M not found"; M=assets/models/smollm2-135m.json; log "model: $M (SmolLM2-135M shape, seeded random weights)"; fi
export XDG_CONFIG_HOME=$G/config XDG_DATA_HOME=$G/data SKV_STUDIO_FONT=$ROOT/.carry/fonts/DejaVuSans.ttf
[ -f "$SKV_STUDIO_FONT" ] || unset SKV_STUDIO_FONT
ok=0
for v in $VENDORS; do
  [ "$v" = mesa ] && [ ! -f "$DRI/swrast_dri.so" ] && [ ! -f /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so ] && { log "mesa: not carried (.carry-mesa)"; continue; }
  left=$(( DEADLINE - ($(date +%s) - START) - 20 ))
  [ $left -lt 45 ] && { log "run $v: skipped, ${left}s left before DEADLINE"; continue; }
  [ $left -gt 240 ] && left=240
  log "run: GLX vendor $v, --device $DEVICE, --run $STEPS, --timeout $left"
  ( export LD_LIBRARY_PATH=$RUNLIB:$S/usr/lib/x86_64-linux-gnu __GLX_VENDOR_LIBRARY_NAME=$v
    [ "$v" = mesa ] && export LIBGL_ALWAYS_SOFTWARE=1 LIBGL_DRIVERS_PATH=$DRI
    timeout $(( left + 30 )) "$BIN" --model "$M" --device "$DEVICE" --run "$STEPS" --timeout "$left" \
      --screenshot "$OUT/gl_$v.png" --frame-stats "$OUT/gl_frames_$v.json" ${PROMPT_FILE:+--prompt-file "$PROMPT_FILE"} ) > "$OUT/run_$v.log" 2>&1
  rc=$?
  grep -E "skv-studio:" "$OUT/run_$v.log" | grep -v "UI parts" | tail -8 | tee -a "$OUT/summary.txt"
  log "run $v: exit $rc"
  if [ -f "$OUT/gl_frames_$v.json" ]; then
    python3 - "$OUT/gl_frames_$v.json" <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys
j = json.load(open(sys.argv[1]))
s = j.get("summary", {})
f = s.get("frame_ms", {})
tps = j["tokens"] / j["decode_seconds"] if j.get("decode_seconds", 0) > 0 else 0
print(f'SUMMARY renderer "{j.get("gl_renderer")}" ({j.get("gl_version")}), {j.get("framebuffer")} px, device {j.get("device")}, '
      f'{j.get("decode_frames")} frames while decoding in {j.get("decode_seconds", 0):.1f} s = {j.get("decode_fps", 0):.1f} fps, '
      f'frame p50 {f.get("p50", 0):.2f} / p95 {f.get("p95", 0):.2f} ms (UI build p50 {s.get("ui_ms", {}).get("p50", 0):.2f}, '
      f'glFinish p50 {s.get("finish_ms", {}).get("p50", 0):.2f}, swap p50 {s.get("swap_ms", {}).get("p50", 0):.2f}), '
      f'~{tps:.2f} tokens/s ({j.get("tokens")} generated tokens / decode s; prompt {j.get("prompt_tokens")} tokens)')
EOF
  fi
  # glvnd quietly falls back to the server's vendor (Mesa) when libGLX_nvidia does not load.
  if [ "$v" = nvidia ] && grep -q -E "GL_RENDERER .*(llvmpipe|softpipe|swrast)" "$OUT/run_$v.log"; then
    log "NVIDIA GLX did not load: glvnd fell back to Mesa (the numbers above are llvmpipe's)"
  fi
  # Exit 3 = --timeout reached before --run STEPS tokens: the frames drawn until then still count.
  { [ "$rc" = 0 ] || [ "$rc" = 3 ]; } && [ -f "$OUT/gl_frames_$v.json" ] && { ok=1; break; }
  tail -5 "$OUT/run_$v.log"
done
log "done ($([ $ok = 1 ] && echo ok || echo 'no GL run succeeded'))"
[ $ok = 1 ]
