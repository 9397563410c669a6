// Sessions: open a saved session, replay it, compare two side by side. The session format and
// recorder belong to core/sessions (now in the tree); the Studio does not read or record them yet,
// and this panel says so rather than pretend.
#include <imgui.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {

void draw_sessions_panel(SessionsState& st, const StudioSnapshot& snap) {
  if (!ImGui::Begin(kSessionsPanel)) {
    ImGui::End();
    return;
  }
  ImGui::BeginDisabled(true);
  ImGui::Button("Open session...");
  help_tooltip("Open a recorded session (not wired into the Studio yet).");
  ImGui::SameLine();
  ImGui::Button("Compare...");
  help_tooltip("Open a second session and compare the two side by side (not wired into the Studio yet).");
  ImGui::SameLine();
  ImGui::Button("Export report");
  help_tooltip("Write a report of the current run with core/reports (not wired into the Studio yet).");
  ImGui::EndDisabled();
  empty_state("Sessions are not wired into the Studio yet",
              "core/sessions (session format, SessionRecorder) and core/reports (write_report) exist, but this Studio "
              "build neither records the live run nor opens, replays or compares saved sessions. Use `skv` sweeps and "
              "reports meanwhile.");
  if (!st.status.empty()) ImGui::TextWrapped("%s", st.status.c_str());
  (void)snap;
  ImGui::End();
}

}  // namespace skv::studio
