#include "app/studio/studio_frame.h"

#include <algorithm>
#include <chrono>

#include <imgui.h>
#include <imgui_internal.h>
#include <implot.h>

#include "app/studio/studio_panels.h"
#include "app/studio/session_view.h"
#include "app/studio/studio_paths.h"

namespace skv::studio {
namespace {

using Clock = std::chrono::steady_clock;

void build_default_layout(ImGuiID dockspace_id) {
  ImGui::DockBuilderRemoveNode(dockspace_id);
  ImGui::DockBuilderAddNode(dockspace_id, ImGuiDockNodeFlags_DockSpace);
  ImGui::DockBuilderSetNodeSize(dockspace_id, ImGui::GetMainViewport()->WorkSize);
  ImGuiID left, rest, right, center, center_bottom, right_mid, right_bottom, left_bottom;
  ImGui::DockBuilderSplitNode(dockspace_id, ImGuiDir_Left, 0.24f, &left, &rest);
  ImGui::DockBuilderSplitNode(rest, ImGuiDir_Right, 0.36f, &right, &center);
  ImGui::DockBuilderSplitNode(center, ImGuiDir_Down, 0.38f, &center_bottom, &center);
  ImGui::DockBuilderSplitNode(right, ImGuiDir_Down, 0.62f, &right_mid, &right);
  ImGui::DockBuilderSplitNode(right_mid, ImGuiDir_Down, 0.45f, &right_bottom, &right_mid);
  ImGui::DockBuilderSplitNode(left, ImGuiDir_Down, 0.16f, &left_bottom, &left);
  ImGui::DockBuilderDockWindow(kRunPanel, left);
  ImGui::DockBuilderDockWindow(kPolicyPanel, left);
  ImGui::DockBuilderDockWindow(kMessagesPanel, left_bottom);
  ImGui::DockBuilderDockWindow(kPlotsPanel, center);
  ImGui::DockBuilderDockWindow(kTokensPanel, center_bottom);
  ImGui::DockBuilderDockWindow(kTierMapPanel, right);
  ImGui::DockBuilderDockWindow(kErrorPanel, right_mid);
  ImGui::DockBuilderDockWindow(kKernelsPanel, right_bottom);
  ImGui::DockBuilderDockWindow(kSessionsPanel, right_bottom);
  ImGui::DockBuilderFinish(dockspace_id);
}

void handle_shortcuts(const StudioUi& ui, const StudioSnapshot& live, StudioActions& act) {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput) return;  // typing a prompt must not start runs
  if (ui.sessions.open && ui.sessions.replaying) {
    // Replaying a session: the same keys drive the replay (Esc returns to the live run).
    if (ImGui::IsKeyPressed(ImGuiKey_Space, false)) act.replay_toggle = true;
    if (ImGui::IsKeyPressed(ImGuiKey_S, false)) act.replay_step = true;
    if (ImGui::IsKeyPressed(ImGuiKey_Escape, false)) act.replay_exit = true;
    return;
  }
  const RunPhase phase = live.phase;
  if (ImGui::IsKeyPressed(ImGuiKey_Space, false)) {
    if (phase == RunPhase::paused) act.resume = true;
    else if (run_in_progress(phase)) act.pause = true;
    else act.start = true;
  }
  if (ImGui::IsKeyPressed(ImGuiKey_S, false)) act.step = true;
  if (ImGui::IsKeyPressed(ImGuiKey_Escape, false)) act.stop = true;
}

// The status bar's tooltip: where the last frames' time went.
void frame_stats_tooltip(const StudioUi& ui) {
  const size_t n = std::min<size_t>(60, ui.frame_log.frames.size());
  if (n == 0) return;
  const FrameStats m = ui.frame_log.mean_of_last(n);
  ImGui::BeginTooltip();
  ImGui::Text("Frame time, mean of the last %zu frames (CPU, steady clock)", n);
  ImGui::Separator();
  if (ImGui::BeginTable("##frame_stats", 2, ImGuiTableFlags_SizingFixedFit)) {
    auto row = [](const char* what, double ms) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(what);
      ImGui::TableNextColumn();
      ImGui::Text("%7.3f ms", ms);
    };
    row("snapshots", m.snapshot_ms);
    row("NewFrame", m.new_frame_ms);
    for (int p = 0; p < kFrameParts; ++p) row(frame_part_name(p), m.part_ms[p]);
    row("= UI build", m.ui_ms);
    row("ImGui::Render", m.render_ms);
    row("GL draw submission", m.submit_ms);
    row("glFinish", m.finish_ms);
    row("swap", m.swap_ms);
    row("= frame", m.frame_ms);
    ImGui::EndTable();
  }
  ImGui::Text("%lld vertices, %lld indices, %lld draw lists, %lld draw commands", static_cast<long long>(m.vertices),
              static_cast<long long>(m.indices), static_cast<long long>(m.draw_lists), static_cast<long long>(m.draw_cmds));
  if (m.finish_ms == 0) ImGui::TextDisabled("glFinish is measured only with --frame-stats (it stalls the pipeline)");
  ImGui::TextDisabled("Frames are drawn when something changes (a token, input, a replay) and twice a second;");
  ImGui::TextDisabled("1000 / frame ms is the rate continuous drawing would reach (skv-studio --continuous).");
  ImGui::EndTooltip();
}

void draw_host(StudioUi& ui, StudioHost& host, const StudioSnapshot& snap, const StudioSnapshot& live,
               const probes::ProbeSnapshot& probe, StudioActions& act) {
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ImGui::SetNextWindowViewport(vp->ID);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowRounding, 0.0f);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowBorderSize, 0.0f);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(0, 0));
  const ImGuiWindowFlags host_flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoDocking | ImGuiWindowFlags_MenuBar |
                                      ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_NoNavFocus |
                                      ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBackground;
  ImGui::Begin("##studio_host", nullptr, host_flags);
  ImGui::PopStyleVar(3);

  if (ImGui::BeginMenuBar()) {
    if (ImGui::BeginMenu("Run")) {
      if (ImGui::MenuItem("Run / pause", "Space")) {
        const RunPhase p = live.phase;
        if (p == RunPhase::paused) act.resume = true;
        else if (run_in_progress(p)) act.pause = true;
        else act.start = true;
      }
      if (ImGui::MenuItem("Single step", "S")) act.step = true;
      if (ImGui::MenuItem("Stop", "Esc")) act.stop = true;
      ImGui::Separator();
      if (ImGui::MenuItem("Quit")) host.quit = true;
      ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("View")) {
      if (ImGui::MenuItem("Reset layout")) act.reset_layout = true;
      ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("Help")) {
      ImGui::TextUnformatted("Space: run / pause    S: single step    Esc: stop");
      ImGui::TextUnformatted("While replaying a session: Space play / pause, S next step, Esc back to the live run.");
      ImGui::TextUnformatted("Hover any control for what it does; hover the status bar for where a frame's time goes.");
      ImGui::EndMenu();
    }
    ImGui::EndMenuBar();
  }

  // Banners: things the user must know now. Each can be dismissed; a new run brings them back.
  struct Banner {
    MessageLevel level;
    std::string text;
  };
  std::vector<Banner> banners;
  if (!kRdrInBuild && (snap.policy_fallback || ui.policy.edit.kind == PolicyKind::dense))
    banners.push_back({MessageLevel::warning, "RDR backend not available in this build: running the dense cache (every token kept)."});
  if (live.phase == RunPhase::failed) banners.push_back({MessageLevel::error, "Run failed: " + live.phase_detail});
  for (const auto& m : ui.app_messages)
    if (m.level == MessageLevel::error) banners.push_back({m.level, m.text});
  for (const auto& s : probe.statuses)
    if (s.level != probes::StatusLevel::info) banners.push_back({MessageLevel::warning, std::string("Probe: ") + s.message.text});
  ImGui::SetCursorPosX(ImGui::GetStyle().WindowPadding.x + 6);
  for (const auto& b : banners) {
    if (std::find(ui.dismissed_banners.begin(), ui.dismissed_banners.end(), b.text) != ui.dismissed_banners.end()) continue;
    const ImVec4 bg = b.level == MessageLevel::error ? ImVec4(0.55f, 0.12f, 0.12f, 1) : ImVec4(0.45f, 0.35f, 0.08f, 1);
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetFrameHeight();
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(vp->WorkPos.x, p.y), ImVec2(vp->WorkPos.x + vp->WorkSize.x, p.y + h), ImGui::GetColorU32(bg));
    ImGui::PushID(b.text.c_str());
    ImGui::SetCursorScreenPos(ImVec2(vp->WorkPos.x + 8, p.y));
    if (ImGui::SmallButton("x")) ui.dismissed_banners.push_back(b.text);
    help_tooltip("Dismiss this banner (it comes back with the next run if still true).");
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(b.text.c_str());
    ImGui::PopID();
  }

  const float status_h = ImGui::GetFrameHeight();
  const ImGuiID dock_id = ImGui::GetID("studio_dockspace");
  if (!host.layout_built) {
    // A saved layout wins; otherwise (and on "Reset layout") build the default one.
    ImGuiDockNode* node = ImGui::DockBuilderGetNode(dock_id);
    if (node == nullptr || node->IsLeafNode() || act.reset_layout || !host.saved_layout) build_default_layout(dock_id);
    host.layout_built = true;
  }
  ImGui::DockSpace(dock_id, ImVec2(0, -status_h), ImGuiDockNodeFlags_None);

  // Status bar.
  ImGui::SetCursorPosX(8);
  const auto& s = snap;
  const double tps = s.series.tokens_per_s.empty() ? 0.0 : s.series.tokens_per_s.back();
  ImGui::AlignTextToFramePadding();
  if (s.replay) {
    ImGui::TextColored(ImVec4(0.45f, 0.8f, 1.0f, 1.0f), "REPLAY %s  step %lld / %lld  |", ui.sessions.open ? ui.sessions.open->label.c_str() : "",
                       static_cast<long long>(s.replay_step), static_cast<long long>(s.replay_steps));
    ImGui::SameLine();
  }
  const FrameStats& last = ui.frame_log.frames.empty() ? FrameStats{} : ui.frame_log.frames.back();
  const std::string backend = s.backend_name.empty() ? "-"
                              : s.attention_path.empty() ? s.backend_name
                                                         : s.backend_name + ", attention: " + s.attention_path;
  ImGui::Text("%s  |  %s  |  %s  |  %zu tokens  |  %.1f tokens/s  |  backend %s  |  %.0f fps drawn, frame %.1f ms (UI %.1f)",
              phase_label(s.phase), s.model.name.empty() ? s.settings.model_spec.c_str() : s.model.name.c_str(),
              s.device.empty() ? "-" : s.device.c_str(), s.tokens.size(), tps, backend.c_str(), ui.fps,
              last.frame_ms, last.ui_ms + last.render_ms);
  if (ImGui::IsItemHovered()) frame_stats_tooltip(ui);
  ImGui::End();
}

// A docked panel draws no background of its own: the clear colour (the window background) shows
// through. The same picture, one full-screen layer less for a software rasteriser (llvmpipe under
// Xvfb is fill-bound: a 1600x1000 frame costs ~5x an 800x500 one). Floating windows keep theirs.
void no_bg_when_docked(const char* name) {
  if (const ImGuiWindow* w = ImGui::FindWindowByName(name); w && w->DockIsActive) ImGui::SetNextWindowBgAlpha(0.0f);
}

}  // namespace

void default_run(RunSettings& run, PolicySettings& policy) {
  run.model_spec = "default";
  const auto texts = shipped_texts();
  if (!texts.empty()) {
    run.prompt_source = PromptSource::file;
    run.prompt_file = texts.front();
  } else {
    run.prompt_source = PromptSource::text;
  }
  run.prompt_text = builtin_prompt();
  policy.kind = kRdrInBuild ? PolicyKind::rdr : PolicyKind::dense;
  policy.budget_percent = 25.0f;
}

bool run_in_progress(RunPhase p) {
  return p == RunPhase::loading || p == RunPhase::prefill || p == RunPhase::decoding || p == RunPhase::paused;
}

void add_app_message(StudioUi& ui, MessageLevel level, std::string text) {
  ui.app_messages.push_back(StudioMessage{level, std::move(text), ImGui::GetCurrentContext() ? ImGui::GetTime() : 0.0});
}

void setup_studio_style(StudioUi& ui, float scale) {
  ImGuiIO& io = ImGui::GetIO();
  ImGui::StyleColorsDark();
  ImGuiStyle& style = ImGui::GetStyle();
  style.WindowRounding = 4.0f;
  style.FrameRounding = 3.0f;
  style.TabRounding = 3.0f;
  style.GrabRounding = 3.0f;
  style.ScaleAllSizes(scale);
  style.FontScaleDpi = scale;
  style.FontSizeBase = 15.0f;
  const std::string font = find_dejavu_sans();
  if (!font.empty() && io.Fonts->AddFontFromFileTTF(font.c_str(), 15.0f)) return;
  io.Fonts->AddFontDefault();
  add_app_message(ui, MessageLevel::warning, "DejaVu Sans not found (install fonts-dejavu-core): using ImGui's built-in font");
}

void draw_studio_frame(StudioUi& ui, StudioHost& host, const StudioSnapshot& snap, const StudioSnapshot& live,
                       const probes::ProbeSnapshot& probe, StudioActions& act, FrameStats* stats) {
  int part = 0;
  Clock::time_point t = Clock::now();
  auto lap = [&] {
    if (!stats) return;
    const Clock::time_point now = Clock::now();
    stats->part_ms[part++] += std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
  };
  draw_host(ui, host, snap, live, probe, act);
  lap();
  no_bg_when_docked(kRunPanel);
  draw_run_panel(ui.run, snap, act);
  lap();
  no_bg_when_docked(kPolicyPanel);
  draw_policy_panel(ui.policy, snap);
  lap();
  no_bg_when_docked(kPlotsPanel);
  draw_plots_panel(ui.plots, snap, probe);
  lap();
  no_bg_when_docked(kTierMapPanel);
  draw_tier_map_panel(ui.tier_map, snap);
  lap();
  no_bg_when_docked(kErrorPanel);
  draw_attention_error_panel(ui.error_map, snap);
  lap();
  no_bg_when_docked(kTokensPanel);
  draw_tokens_panel(ui.tokens, snap);
  lap();
  no_bg_when_docked(kKernelsPanel);
  draw_kernels_panel(ui.kernels, snap, probe);
  lap();
  no_bg_when_docked(kSessionsPanel);
  draw_sessions_panel(ui.sessions, live);
  for (auto& [level, text] : ui.sessions.outbox) add_app_message(ui, level, std::move(text));
  ui.sessions.outbox.clear();
  lap();
  no_bg_when_docked(kMessagesPanel);
  draw_messages_panel(ui, snap, probe);
  lap();
  handle_shortcuts(ui, live, act);
  lap();
}

void count_draw_data(const ImDrawData* dd, FrameStats& stats) {
  if (!dd) return;
  stats.vertices = dd->TotalVtxCount;
  stats.indices = dd->TotalIdxCount;
  stats.draw_lists = dd->CmdListsCount;
  int64_t cmds = 0;
  for (const ImDrawList* dl : dd->CmdLists) cmds += dl->CmdBuffer.Size;
  stats.draw_cmds = cmds;
}

}  // namespace skv::studio
