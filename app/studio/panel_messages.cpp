// Messages: everything the worker, the probe and the GUI had to say, newest last.
#include <imgui.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {
namespace {

ImVec4 level_color(MessageLevel l) {
  switch (l) {
    case MessageLevel::error: return ImVec4(1.0f, 0.45f, 0.45f, 1);
    case MessageLevel::warning: return ImVec4(1.0f, 0.8f, 0.3f, 1);
    case MessageLevel::info: break;
  }
  return ImGui::GetStyleColorVec4(ImGuiCol_Text);
}

}  // namespace

void draw_messages_panel(const StudioUi& ui, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe) {
  if (!ImGui::Begin(kMessagesPanel)) {
    ImGui::End();
    return;
  }
  if (ImGui::BeginChild("##log")) {
    auto show = [](const StudioMessage& m, const char* who) {
      ImGui::PushStyleColor(ImGuiCol_Text, level_color(m.level));
      ImGui::TextWrapped("[%s] %s", who, m.text.c_str());
      ImGui::PopStyleColor();
    };
    for (const auto& m : ui.app_messages) show(m, "gui");
    for (const auto& s : probe.statuses) {
      const MessageLevel l = s.level == probes::StatusLevel::error ? MessageLevel::error
                             : s.level == probes::StatusLevel::warning ? MessageLevel::warning
                                                                       : MessageLevel::info;
      show(StudioMessage{l, s.message.text, 0}, "probe");
    }
    for (const auto& m : snap.messages) show(m, "run");
    if (ui.app_messages.empty() && probe.statuses.empty() && snap.messages.empty()) ImGui::TextDisabled("no messages");
    if (ImGui::GetScrollY() >= ImGui::GetScrollMaxY()) ImGui::SetScrollHereY(1.0f);
  }
  ImGui::EndChild();
  ImGui::End();
}

}  // namespace skv::studio
