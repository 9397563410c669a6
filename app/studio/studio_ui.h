#pragma once
// The GUI's state: one plain struct per panel, gathered in StudioUi (the ImGui demo's habit).
// Panels read a StudioSnapshot, edit their own struct, and ask for worker commands through
// StudioActions; the app applies those after drawing. No panel touches the worker.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/studio/frame_stats.h"
#include "app/studio/studio_types.h"

namespace skv::studio {

// What the panels ask the worker to do this frame.
struct StudioActions {
  bool start = false, pause = false, resume = false, step = false, stop = false;
  bool replay_toggle = false, replay_step = false, replay_exit = false;  // session replay (Space, S, Esc)
  bool reset_layout = false;
};

struct FilePickerState {
  bool open = false;
  std::string title;
  std::string directory;               // shown directory
  std::vector<std::string> extensions; // ".gguf", ...; empty = all
  std::string selected;                // set when the user picks a file
  bool picked = false;                 // one frame true after a pick
  std::string error;
};

struct RunPanelState {
  RunSettings edit;                 // what Start will send
  std::vector<std::string> texts;   // shipped texts (assets/texts/*.txt)
  int text_choice = 0;
  FilePickerState model_picker;
  FilePickerState text_picker;
  int model_choice = 0;             // 0 default, 1 file, 2 shipped shape config
  std::vector<std::string> shape_configs;  // assets/models/*.json
};

struct PolicyPanelState {
  PolicySettings edit;
  std::string profile_status;  // result of the last load/save
  std::vector<std::string> profiles;  // assets/profiles + the config folder's profiles/
  bool profiles_scanned = false;
  std::vector<double> layer_budgets;  // of the loaded profile (for its plot)
  std::string profile_summary;        // model, target KL, method of the loaded profile
  int64_t context_tokens = 0;  // for the bytes readout: prompt + max new tokens
};

// Per-snapshot caches of the panels (panel_*.cpp): rebuilt only when the snapshot (or the panel's
// width) changes, so a frame costs what is visible, not what the run has accumulated.
struct PlotsCache;
struct TierImageCache;
struct KernelTimelineCache;  // panel_kernels.cpp
struct TokenLayout;
// Which snapshot a cache was built from (the pointer alone could be reused by a later one).
struct SnapshotKey {
  const void* ptr = nullptr;
  uint64_t version = 0;
  int64_t tokens = -1, replay_step = -1;
  const void* probe = nullptr;
  uint64_t probe_version = 0;
  bool operator==(const SnapshotKey&) const = default;
};

struct PlotsState {
  bool follow = true;     // keep the newest steps in view
  int window_steps = 128; // steps shown while following
  double x_min = 0, x_max = 64;  // the shared step axis of every plot (linked)
  std::shared_ptr<PlotsCache> cache;
};

struct TierMapState {
  int layer = 0, head = 0;  // drilled-into (layer, KV head)
  std::shared_ptr<TierImageCache> image;
};

struct ErrorMapState {
  int layer = 0, head = 0;  // clicked (layer, query head)
  bool show_mean = false;   // running mean instead of the last step
  float map_x0 = 0, map_y0 = 0, map_x1 = 0, map_y1 = 0;  // the heatmap's plot area last frame (screen; for tests)
};

struct TokensState {
  bool show_prompt = true;
  std::shared_ptr<TokenLayout> layout;
  int64_t drawn_tokens = 0;  // token boxes drawn last frame (the visible ones)
};

struct KernelsState {
  int last_steps = 4;
  bool follow = true;  // the time axis fits the shown steps every frame
  std::shared_ptr<KernelTimelineCache> timeline;  // the shown kernels, rebuilt when the records change
  // What the panel drew last frame (for tests and the status line): kernels in the timeline, the
  // steps they span, their time span; or the host step times plotted when there are no kernels.
  int64_t shown_kernels = 0, shown_first_step = -1, shown_last_step = -1;
  int64_t shown_rects = 0;  // rectangles drawn: kernels closer than a pixel share one
  double shown_span_ms = 0;
  std::vector<double> host_steps, host_ms;
};

struct OpenSession;  // session_view.h
struct ExportJob;    // panel_sessions.cpp: a report being written on its own thread

struct SessionsState {
  std::string status;        // result of the last open / export
  bool status_error = false;
  std::vector<std::pair<MessageLevel, std::string>> outbox;  // for Messages (the app moves them)
  std::string path;          // session folder typed or picked
  std::string compare_path;  // the second session
  FilePickerState picker;    // picks a session's manifest.json
  int picker_target = 0;     // 0: path, 1: compare_path
  std::vector<std::string> found;  // sessions under sessions_dir(), newest first
  bool scanned = false;
  std::shared_ptr<const OpenSession> open;     // replayed / exported
  std::shared_ptr<const OpenSession> compare;  // shown beside it
  // Replay: the panels show `open` at replay_step instead of the live run.
  bool replaying = false;
  int64_t replay_step = 1;
  bool playing = false;
  float play_steps_per_s = 8.0f;
  double play_accum = 0;
  std::string export_dir;    // "" = beside the session: <session>-report
  std::shared_ptr<ExportJob> export_job;
  std::vector<std::string> exported;  // files of the last export
  std::vector<std::vector<std::string>> table;  // the compare table as drawn: rows of {metric, A, B}
};

struct StudioUi {
  RunPanelState run;
  PolicyPanelState policy;
  PlotsState plots;
  TierMapState tier_map;
  ErrorMapState error_map;
  TokensState tokens;
  KernelsState kernels;
  SessionsState sessions;
  std::vector<std::string> dismissed_banners;
  std::vector<StudioMessage> app_messages;  // GUI-side problems (font, layout file, ...)
  float dpi_scale = 1.0f;
  double fps = 0;
  FrameStatsLog frame_log{{}, 20000};  // where each frame's time went (status bar tooltip, --frame-stats)
};

// Panel names double as window titles and as Test Engine references.
inline constexpr const char* kRunPanel = "Run";
inline constexpr const char* kPolicyPanel = "Policy";
inline constexpr const char* kPlotsPanel = "Live plots";
inline constexpr const char* kTierMapPanel = "Tier map";
inline constexpr const char* kErrorPanel = "Attention error";
inline constexpr const char* kTokensPanel = "Tokens";
inline constexpr const char* kKernelsPanel = "Kernels";
inline constexpr const char* kSessionsPanel = "Sessions";
inline constexpr const char* kMessagesPanel = "Messages";

}  // namespace skv::studio
