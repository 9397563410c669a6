#pragma once
// One Studio frame's UI, with no window system and no GL: the host window (menu bar, banners,
// dock space, status bar), every panel and the keyboard shortcuts, between ImGui::NewFrame() and
// ImGui::Render(). StudioApp (GLFW + OpenGL 3) and the headless frame benchmark
// (studio_frames_main.cpp: ImGui + ImPlot core only) both draw through it, so the benchmark
// measures exactly the UI a user sees.
#include <string>

#include "app/studio/frame_stats.h"
#include "app/studio/studio_ui.h"
#include "probes/probe_worker.h"

struct ImDrawData;

namespace skv::studio {

// skv-studio's first run with no arguments: default model, a shipped text (else the built-in
// prompt), RDR at 25 % when the RDR backend is in the build (else dense).
void default_run(RunSettings& run, PolicySettings& policy);

// The host window's state across frames.
struct StudioHost {
  bool layout_built = false;
  bool saved_layout = false;  // a layout file exists and was loaded: it wins over the default
  bool quit = false;          // Run > Quit was chosen
};

bool run_in_progress(RunPhase p);
void add_app_message(StudioUi& ui, MessageLevel level, std::string text);

// Dark style scaled by `scale`, DejaVu Sans when installed (else ImGui's font and a message).
void setup_studio_style(StudioUi& ui, float scale);

// Draws the whole UI from the snapshots (snap: what the panels show, the live run or a replayed
// session; live: the worker's latest) and fills act with what the user asked for. When stats is
// given, the CPU time of the host window and of each panel goes to stats->part_ms.
void draw_studio_frame(StudioUi& ui, StudioHost& host, const StudioSnapshot& snap, const StudioSnapshot& live,
                       const probes::ProbeSnapshot& probe, StudioActions& act, FrameStats* stats);

// Vertex, index, draw-list and draw-command counts of a rendered frame.
void count_draw_data(const ImDrawData* dd, FrameStats& stats);

}  // namespace skv::studio
