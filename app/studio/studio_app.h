#pragma once
// StudioApp: the window, the Dear ImGui + ImPlot context, the dock layout, the frame loop, and
// the bridge between the panels' StudioActions and the StudioWorker. Tests drive it frame by frame
// (with the ImGui Test Engine attached); skv-studio calls run().
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/studio/studio_frame.h"
#include "app/studio/studio_ui.h"
#include "app/studio/studio_worker.h"

struct GLFWwindow;
struct ImGuiContext;
struct ImGuiTestEngine;

namespace skv::studio {

struct StudioOptions {
  RunSettings run;                  // the first run (model, prompt, ...)
  PolicySettings policy;            // its policy
  bool autostart = true;            // start decoding as soon as the window is up
  std::string screenshot;           // write the window as PNG and exit
  int run_steps = -1;               // with screenshot: decode this many tokens first
  std::string session;              // open a recorded session and replay it
  int width = 1600, height = 1000;  // window size in screen coordinates
  float scale = 0;                  // UI scale; 0 = the monitor's content scale
  bool persist_layout = true;       // read/write the layout in the user's config folder
  double timeout_s = 600;           // screenshot mode gives up after this long
  // Screenshot mode: write where each frame's time went (frame_stats.h) as JSON here, and print it.
  // Also turns on glFinish after each frame's submission, so GPU/rasteriser time shows separately.
  std::string frame_stats_path;
  // Draw every frame (up to 60 fps) even when nothing changed. Off: a frame is drawn only when a
  // snapshot changed, input arrived (and for 0.6 s after), or at least twice a second, so a slow
  // run on a software renderer leaves the CPU to the decoder. Screenshot mode always draws.
  bool continuous = false;
};

// Defaults for `skv-studio` with no arguments: default model, a shipped text (else a built-in
// prompt), RDR at 25 % when the RDR backend is in the build (else dense).
StudioOptions default_options();

struct PanelRect {
  bool found = false, visible = false;
  int x = 0, y = 0, w = 0, h = 0;  // framebuffer pixels, top-left origin
};

class StudioApp {
 public:
  explicit StudioApp(StudioOptions options);
  ~StudioApp();
  StudioApp(const StudioApp&) = delete;
  StudioApp& operator=(const StudioApp&) = delete;

  // Opens the window and the GL context. Throws std::runtime_error with a one-line reason (no
  // display, no OpenGL 3).
  void init();
  // Draws and presents one frame (or, when nothing changed, waits for input up to one frame's
  // time and draws nothing: see StudioOptions::continuous); false once the window was asked to close.
  bool frame();
  int64_t frames_drawn() const { return frames_drawn_; }
  // The interactive loop (or the screenshot run); returns the process exit code.
  int run();

  // Reads the next frame's pixels back (RGBA, top row first) before it is presented.
  void capture_next_frame() { capture_requested_ = true; }
  const std::vector<uint8_t>& captured() const { return captured_; }
  int captured_width() const { return captured_w_; }
  int captured_height() const { return captured_h_; }

  PanelRect panel_rect(const char* name) const;
  void attach_test_engine(ImGuiTestEngine* engine);
  ImGuiContext* imgui_context() const { return imgui_; }

  StudioUi& ui() { return ui_; }
  StudioWorker& worker() { return *worker_; }
  std::shared_ptr<const StudioSnapshot> last_snapshot() const { return snap_; }
  std::shared_ptr<const StudioSnapshot> live_snapshot() const { return live_snap_; }
  // Opens a session folder in replay mode (what the Sessions panel's Open does); false and a
  // message in the panel and in Messages when it cannot be read.
  bool open_session_for_replay(const std::string& dir);
  void apply(const StudioActions& act);  // what a panel button or shortcut does

 private:
  bool write_frame_stats(int decode_frames, double decode_s) const;

  StudioOptions options_;
  StudioUi ui_;
  std::unique_ptr<StudioWorker> worker_;
  std::shared_ptr<const StudioSnapshot> snap_;       // what the panels draw: the live run or a replayed session
  std::shared_ptr<const StudioSnapshot> live_snap_;  // the worker's latest, also while replaying
  std::shared_ptr<const StudioSnapshot> replay_cache_;
  std::shared_ptr<const probes::ProbeSnapshot> replay_probe_;
  const void* replay_cache_src_ = nullptr;
  int64_t replay_cache_step_ = -1;
  std::shared_ptr<const probes::ProbeSnapshot> probe_;
  GLFWwindow* window_ = nullptr;
  ImGuiContext* imgui_ = nullptr;
  ImGuiTestEngine* test_engine_ = nullptr;
  std::string ini_path_;
  StudioHost host_;
  bool measure_finish_ = false;  // glFinish after the submission (for --frame-stats)
  bool capture_requested_ = false;
  std::vector<uint8_t> captured_;
  int captured_w_ = 0, captured_h_ = 0;
  double last_frame_time_ = 0;
  // Frame skipping: what the last drawn frame showed, and when input last arrived.
  const void* drawn_live_ = nullptr;
  const void* drawn_snap_ = nullptr;
  const void* drawn_probe_ = nullptr;
  double last_input_time_ = -1e9, last_draw_time_ = -1e9;
  int settle_frames_ = 0;
  int64_t frames_drawn_ = 0;
};

// Writes RGBA pixels (top row first) as PNG. Returns false and fills `error` on failure.
bool write_png(const std::string& path, const std::vector<uint8_t>& rgba, int width, int height, std::string* error);

}  // namespace skv::studio
