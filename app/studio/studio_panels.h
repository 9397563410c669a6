#pragma once
#include <cstddef>
#include <string>
// One function per panel: each draws its window from a snapshot and its own state struct.
#include "app/studio/studio_ui.h"
#include "probes/probe_worker.h"

namespace skv::studio {

void draw_run_panel(RunPanelState& st, const StudioSnapshot& snap, StudioActions& act);
void draw_policy_panel(PolicyPanelState& st, const StudioSnapshot& snap);
void draw_plots_panel(PlotsState& st, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe);
void draw_tier_map_panel(TierMapState& st, const StudioSnapshot& snap);
void draw_attention_error_panel(ErrorMapState& st, const StudioSnapshot& snap);
void draw_tokens_panel(TokensState& st, const StudioSnapshot& snap);
void draw_kernels_panel(KernelsState& st, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe);
void draw_sessions_panel(SessionsState& st, const StudioSnapshot& snap);
void draw_messages_panel(const StudioUi& ui, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe);

// A modal-free file browser drawn inside the current window; returns true the frame a file is picked.
bool draw_file_picker(FilePickerState& st);

// Shared drawing helpers (studio_widgets.cpp).
void help_tooltip(const char* text);            // tooltip on the last item
void empty_state(const char* title, const char* why);  // a centred, labelled "no data" box
std::string format_bytes(double bytes);
// Colour of tier index t (0 = most precise) in the tier map, the tokens and their legends.
unsigned int tier_color(size_t tier);
inline constexpr unsigned int kTierDroppedColor = 0xFF3232D2u;  // IM_COL32(210, 50, 50, 255)

}  // namespace skv::studio
