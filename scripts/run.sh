#!/usr/bin/env bash
# The main job: builds what is missing, then opens SKV Studio on the default model
# (SmolLM2-135M-Instruct), a shipped text and RDR at 25% of the fp16 cache, and starts decoding.
# Without a display it says so and runs the same job headless in the terminal.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SKV_BUILD_DIR:-$here/build}"
bash "$here/scripts/build.sh"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$build/bin/skv-studio" ]; then
  exec "$build/bin/skv-studio" "$@"
fi
echo "skv: no display here, so the studio cannot open. On a desktop, run this again;" >&2
echo "     on a server, use 'xvfb-run -a scripts/run.sh' for screenshots or 'ssh -X'." >&2
echo "     Running the decoder headless instead:" >&2
exec "$build/bin/skv" generate --model default --chat --prompt "Explain in two sentences why long-context decoding is limited by memory bandwidth." --max-new-tokens 80 "$@"
