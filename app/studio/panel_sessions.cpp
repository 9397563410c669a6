// Sessions: open a saved session, replay it, compare two side by side. The session format and
// recorder belong to core/sessions; until it is in the build this panel says so.
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
  help_tooltip("Open a recorded session (needs core/sessions, not in this build).");
  ImGui::SameLine();
  ImGui::Button("Compare...");
  help_tooltip("Open a second session and compare the two side by side (needs core/sessions).");
  ImGui::SameLine();
  ImGui::Button("Export report");
  help_tooltip("Write a report of the current run (needs core/reports, not in this build).");
  ImGui::EndDisabled();
  empty_state("Session recorder not available in this build",
              "Recording, replaying and comparing sessions needs core/sessions (session format and recorder), and the "
              "Export button needs core/reports. Neither is in this build yet; the live run is not recorded.");
  if (!st.status.empty()) ImGui::TextWrapped("%s", st.status.c_str());
  (void)snap;
  ImGui::End();
}

}  // namespace skv::studio
