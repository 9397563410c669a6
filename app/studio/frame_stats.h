#pragma once
// Where a frame's time goes: CPU time of building the UI (NewFrame, each panel, Render), of the GL
// backend's draw submission and of glFinish / swap, and how much was drawn. The app fills one
// FrameStats per frame; the status bar's tooltip, `skv-studio --frame-stats` and the headless
// frame benchmark (skv_studio_frames) read them. No ImGui, no GL.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace skv::studio {

// Parts of the UI build, in drawing order: the host window (menu, banners, dock space, status
// bar), the nine panels, then shortcuts + applying the panels' actions.
inline constexpr int kFrameParts = 11;
const char* frame_part_name(int i);

struct FrameStats {
  double snapshot_ms = 0;   // taking the worker's snapshots (and rebuilding a replayed one)
  double new_frame_ms = 0;  // the platform/renderer NewFrame + ImGui::NewFrame
  std::array<double, kFrameParts> part_ms{};
  double ui_ms = 0;         // new_frame_ms + every part: the CPU cost of building the UI
  double render_ms = 0;     // ImGui::Render (draw lists finalised)
  double submit_ms = 0;     // the GL backend's RenderDrawData (0 headless)
  double finish_ms = 0;     // glFinish after the submission (only when measured)
  double readback_ms = 0;   // glReadPixels of a captured frame
  double swap_ms = 0;       // glfwSwapBuffers
  double frame_ms = 0;      // all of the above: the frame without event waits and pacing sleep
  int64_t vertices = 0, indices = 0, draw_lists = 0, draw_cmds = 0;
  bool decoding = false;    // the live run was decoding tokens during this frame
};

// The frames of a run, kept up to `cap` (the oldest half goes when full).
struct FrameStatsLog {
  std::vector<FrameStats> frames;
  size_t cap = 200000;
  void add(const FrameStats& f);
  // The mean of the newest n frames (all parts and counts averaged).
  FrameStats mean_of_last(size_t n) const;
  // p50 / p95 / max / mean of every time and count over the frames (only decoding ones when
  // decoding_only), plus "frames"; what --frame-stats and the benchmark write.
  nlohmann::json summary(bool decoding_only) const;
};

// Linear-interpolated quantile (q in [0, 1]) of v; NaN for an empty vector.
double quantile(std::vector<double> v, double q);

}  // namespace skv::studio
