// Small drawing helpers the panels share.
#include <algorithm>
#include <cstdio>

#include <imgui.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {

void help_tooltip(const char* text) {
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled | ImGuiHoveredFlags_DelayShort)) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
    ImGui::TextUnformatted(text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

void empty_state(const char* title, const char* why) {
  // A framed box that says what is missing and why: never an invented number.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float h = std::max(ImGui::GetTextLineHeightWithSpacing() * 3.5f, std::min(avail.y, ImGui::GetFontSize() * 6.0f));
  ImGui::PushStyleColor(ImGuiCol_ChildBg, ImGui::GetStyleColorVec4(ImGuiCol_FrameBg));
  if (ImGui::BeginChild(title, ImVec2(0, h), ImGuiChildFlags_Borders)) {
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextDisabled("%s", title);
    ImGui::TextUnformatted(why);
    ImGui::PopTextWrapPos();
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
}

ImU32 tier_color(size_t tier) {
  // Tier 0 (most precise) green, coarser tiers through yellow to orange and purple.
  static const ImU32 palette[] = {IM_COL32(70, 170, 110, 255), IM_COL32(140, 190, 80, 255), IM_COL32(220, 200, 70, 255),
                                  IM_COL32(230, 150, 60, 255), IM_COL32(200, 110, 60, 255), IM_COL32(160, 90, 120, 255),
                                  IM_COL32(120, 90, 160, 255)};
  return palette[std::min<size_t>(tier, IM_ARRAYSIZE(palette) - 1)];
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

}  // namespace skv::studio
