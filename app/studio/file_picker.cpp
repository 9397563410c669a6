// A small in-window file browser (no native dialog: works the same under Xvfb and in tests).
#include <algorithm>
#include <filesystem>

#include <imgui.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {
namespace fs = std::filesystem;

bool draw_file_picker(FilePickerState& st) {
  st.picked = false;
  if (!st.open) return false;
  if (st.directory.empty()) {
    std::error_code ec;
    st.directory = fs::current_path(ec).string();
  }
  ImGui::PushID(&st);
  ImGui::SeparatorText(st.title.c_str());
  ImGui::TextWrapped("%s", st.directory.c_str());
  if (ImGui::Button("Up")) st.directory = fs::path(st.directory).parent_path().string();
  help_tooltip("Go to the parent folder.");
  ImGui::SameLine();
  if (ImGui::Button("Home")) {
    if (const char* home = std::getenv("HOME")) st.directory = home;
  }
  help_tooltip("Go to your home folder.");
  ImGui::SameLine();
  if (ImGui::Button("Cancel")) st.open = false;
  help_tooltip("Close the browser without picking a file.");

  std::vector<fs::directory_entry> dirs, files;
  std::error_code ec;
  st.error.clear();
  for (fs::directory_iterator it(st.directory, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto& e = *it;
    if (e.path().filename().string().starts_with(".")) continue;
    std::error_code ec2;
    if (e.is_directory(ec2)) {
      dirs.push_back(e);
    } else {
      const std::string ext = e.path().extension().string();
      if (st.extensions.empty() || std::find(st.extensions.begin(), st.extensions.end(), ext) != st.extensions.end())
        files.push_back(e);
    }
  }
  if (ec) st.error = "cannot list " + st.directory + ": " + ec.message();
  auto by_name = [](const fs::directory_entry& a, const fs::directory_entry& b) { return a.path().filename() < b.path().filename(); };
  std::sort(dirs.begin(), dirs.end(), by_name);
  std::sort(files.begin(), files.end(), by_name);

  if (!st.error.empty()) ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s", st.error.c_str());
  if (ImGui::BeginChild("##entries", ImVec2(0, ImGui::GetTextLineHeightWithSpacing() * 8), ImGuiChildFlags_Borders)) {
    for (const auto& d : dirs) {
      const std::string label = "[dir] " + d.path().filename().string();
      if (ImGui::Selectable(label.c_str(), false, ImGuiSelectableFlags_AllowDoubleClick)) st.directory = d.path().string();
    }
    for (const auto& f : files) {
      if (ImGui::Selectable(f.path().filename().string().c_str())) {
        st.selected = f.path().string();
        st.picked = true;
        st.open = false;
      }
    }
    if (dirs.empty() && files.empty()) ImGui::TextDisabled("(no matching files here)");
  }
  ImGui::EndChild();
  ImGui::PopID();
  return st.picked;
}

}  // namespace skv::studio
