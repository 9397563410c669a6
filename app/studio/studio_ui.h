#pragma once
// The GUI's state: one plain struct per panel, gathered in StudioUi (the ImGui demo's habit).
// Panels read a StudioSnapshot, edit their own struct, and ask for worker commands through
// StudioActions; the app applies those after drawing. No panel touches the worker.
#include <memory>
#include <string>
#include <vector>

#include "app/studio/studio_types.h"

namespace skv::studio {

// What the panels ask the worker to do this frame.
struct StudioActions {
  bool start = false, pause = false, resume = false, step = false, stop = false;
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
  int64_t context_tokens = 0;  // for the bytes readout: prompt + max new tokens
};

struct PlotsState {
  bool follow = true;     // keep the newest steps in view
  int window_steps = 128; // steps shown while following
  double x_min = 0, x_max = 64;  // the shared step axis of every plot (linked)
};

struct TierMapState {
  int layer = 0, head = 0;  // drilled-into (layer, KV head)
};

struct ErrorMapState {
  int layer = 0, head = 0;  // clicked (layer, query head)
  bool show_mean = false;   // running mean instead of the last step
};

struct TokensState {
  bool show_prompt = true;
};

struct KernelsState {
  int last_steps = 4;
};

struct SessionsState {
  std::string status;
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
