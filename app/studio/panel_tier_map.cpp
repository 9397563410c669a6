// Tier map: a layers x KV-heads grid of tier shares; click a cell to see that head's tiers over
// token position (x) and time (y), drops included.
#include <algorithm>

#include <imgui.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {
namespace {

constexpr ImU32 kDropped = kTierDroppedColor;
constexpr ImU32 kAbsent = IM_COL32(40, 40, 46, 255);

void legend(const TierMap& tm) {
  auto swatch = [](ImU32 c, const char* label) {
    const float s = ImGui::GetTextLineHeight();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    ImGui::GetWindowDrawList()->AddRectFilled(p, ImVec2(p.x + s, p.y + s), c);
    ImGui::Dummy(ImVec2(s, s));
    ImGui::SameLine();
    ImGui::TextUnformatted(label);
    ImGui::SameLine();
  };
  for (size_t t = 0; t < tm.tier_names.size(); ++t) swatch(tier_color(t), tm.tier_names[t].c_str());
  swatch(kDropped, "dropped");
  swatch(kAbsent, "not yet in the sequence");
  ImGui::NewLine();
}

}  // namespace

// The drill-down image of one snapshot at one width, as runs of equal bins per row (in bin and
// row units): rebuilt when the snapshot or the width changes, not every frame (256 rows x up to
// 8192 positions are scanned to build it).
struct TierImageCache {
  SnapshotKey key;
  int px_cols = 0;
  struct Run {
    int row, c0, c1;
    ImU32 col;
  };
  std::vector<Run> runs;
};

namespace {

void build_tier_image(TierImageCache& cache, const TierMap& tm, int px_cols) {
  cache.runs.clear();
  const int rows = static_cast<int>(tm.history_steps.size()), cols = tm.history_cols;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = tm.history.data() + static_cast<size_t>(r) * cols;
    // Runs of equal bins become one rectangle: a software renderer (llvmpipe under Xvfb) pays per
    // rectangle, and 256 rows x hundreds of bins per frame cost more than the rest of the UI.
    int run_start = 0, run_sev = -2;
    auto flush = [&](int end) {
      if (run_sev < 0) return;
      cache.runs.push_back({r, run_start, end, run_sev == 1000 ? kDropped : tier_color(static_cast<size_t>(run_sev))});
    };
    for (int c = 0; c < px_cols; ++c) {
      // The bin shows its most severe state: dropped over coarse over fine over absent. v + 1
      // (mod 256) orders them so: absent 255 -> 0, tier t -> t + 1, dropped 254 -> 255, and the
      // max over a bin is a plain byte max the compiler vectorises (up to 256 x 8192 per rebuild).
      const int a = c * cols / px_cols, b = std::max(a + 1, (c + 1) * cols / px_cols);
      uint8_t rank = 0;
      for (int k = a; k < b; ++k) rank = std::max(rank, static_cast<uint8_t>(row[k] + 1));
      const int worst = rank == 0 ? -1 : rank == 255 ? 1000 : rank - 1;
      if (worst != run_sev) {
        flush(c);
        run_start = c;
        run_sev = worst;
      }
    }
    flush(px_cols);
  }
}

}  // namespace

void draw_tier_map_panel(TierMapState& st, const StudioSnapshot& snap) {
  if (!ImGui::Begin(kTierMapPanel)) {
    ImGui::End();
    return;
  }
  const TierMap& tm = snap.tiers;
  if (!tm.available) {
    empty_state("No tier map", tm.why_not.empty() ? "Start a run to see where each head keeps its tokens." : tm.why_not.c_str());
    ImGui::End();
    return;
  }
  ImGui::TextDisabled("%s", tm.source.c_str());
  legend(tm);

  // The grid: one cell per (layer, KV head), split horizontally by tier share.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float label_w = ImGui::CalcTextSize("L00 ").x;
  const float grid_h = std::max(avail.y * 0.5f, ImGui::GetFontSize() * 6);
  const float cell_w = std::max(4.0f, (avail.x - label_w) / static_cast<float>(std::max(tm.heads, 1)));
  const float cell_h = std::max(2.0f, grid_h / static_cast<float>(std::max(tm.layers, 1)));
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const size_t nt = tm.tier_names.size();
  for (int l = 0; l < tm.layers; ++l) {
    if (cell_h >= ImGui::GetFontSize() * 0.9f || l % 5 == 0)
      dl->AddText(ImVec2(origin.x, origin.y + l * cell_h), ImGui::GetColorU32(ImGuiCol_TextDisabled), ("L" + std::to_string(l)).c_str());
    for (int h = 0; h < tm.heads; ++h) {
      float x = origin.x + label_w + h * cell_w;
      const float y = origin.y + l * cell_h;
      const size_t base = static_cast<size_t>((l * tm.heads + h)) * nt;
      float kept = 0;
      for (size_t t = 0; t < nt; ++t) {
        const float w = tm.shares[base + t] * (cell_w - 1);
        if (w > 0) dl->AddRectFilled(ImVec2(x, y), ImVec2(x + w, y + cell_h - 1), tier_color(t));
        x += w;
        kept += tm.shares[base + t];
      }
      if (kept < 1.0f) dl->AddRectFilled(ImVec2(x, y), ImVec2(origin.x + label_w + (h + 1) * cell_w - 1, y + cell_h - 1), kept > 0 ? kDropped : kAbsent);
      if (l == st.layer && h == st.head)
        dl->AddRect(ImVec2(origin.x + label_w + h * cell_w, y), ImVec2(origin.x + label_w + (h + 1) * cell_w - 1, y + cell_h - 1),
                    IM_COL32(255, 255, 255, 255), 0, 0, 2.0f);
    }
  }
  ImGui::InvisibleButton("##grid", ImVec2(label_w + cell_w * tm.heads, cell_h * tm.layers));
  const bool grid_clicked = ImGui::IsItemClicked();
  if (ImGui::IsItemHovered()) {
    const ImVec2 m = ImGui::GetMousePos();
    const int h = static_cast<int>((m.x - origin.x - label_w) / cell_w), l = static_cast<int>((m.y - origin.y) / cell_h);
    if (h >= 0 && h < tm.heads && l >= 0 && l < tm.layers) {
      ImGui::BeginTooltip();
      ImGui::Text("layer %d, KV head %d", l, h);
      const size_t base = static_cast<size_t>((l * tm.heads + h)) * nt;
      float kept = 0;
      for (size_t t = 0; t < nt; ++t) {
        ImGui::Text("%-14s %5.1f %%", tm.tier_names[t].c_str(), 100.0f * tm.shares[base + t]);
        kept += tm.shares[base + t];
      }
      ImGui::Text("%-14s %5.1f %%", "dropped", 100.0f * std::max(0.0f, 1.0f - kept));
      ImGui::TextDisabled("click to follow this head below");
      ImGui::EndTooltip();
      if (grid_clicked) st.layer = l, st.head = h;
    }
  }

  // Drill-down: the focused head's tier per position (x) over steps (y, newest at the bottom).
  ImGui::SeparatorText("Head over time");
  ImGui::Text("layer %d, KV head %d", tm.focus_layer, tm.focus_head);
  if (tm.focus_layer != st.layer || tm.focus_head != st.head) {
    ImGui::SameLine();
    ImGui::TextDisabled("(switching to L%d H%d at the next step)", st.layer, st.head);
  }
  const int rows = static_cast<int>(tm.history_steps.size());
  if (rows == 0 || tm.history_cols == 0) {
    ImGui::TextDisabled("no steps recorded for this head yet");
    ImGui::End();
    return;
  }
  const ImVec2 img_avail = ImGui::GetContentRegionAvail();
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  const float iw = std::max(img_avail.x, 32.0f), ih = std::max(img_avail.y - 4, 32.0f);
  const int cols = tm.history_cols;
  // One rectangle per (row, pixel column): positions are binned to the panel's width.
  const int px_cols = std::max(1, std::min(cols, static_cast<int>(iw)));
  const float rh = ih / static_cast<float>(rows), cw = iw / static_cast<float>(px_cols);
  dl->AddRectFilled(p0, ImVec2(p0.x + iw, p0.y + ih), kAbsent);
  if (!st.image) st.image = std::make_shared<TierImageCache>();
  SnapshotKey key;
  key.ptr = &snap;
  key.version = snap.version;
  key.tokens = static_cast<int64_t>(tm.history.size());
  key.replay_step = snap.replay ? snap.replay_step : -1;
  if (!(st.image->key == key) || st.image->px_cols != px_cols) {
    st.image->key = key;
    st.image->px_cols = px_cols;
    build_tier_image(*st.image, tm, px_cols);
  }
  for (const auto& run : st.image->runs)
    dl->AddRectFilled(ImVec2(p0.x + run.c0 * cw, p0.y + run.row * rh), ImVec2(p0.x + run.c1 * cw, p0.y + (run.row + 1) * rh), run.col);
  ImGui::InvisibleButton("##history", ImVec2(iw, ih));
  if (ImGui::IsItemHovered()) {
    const ImVec2 m = ImGui::GetMousePos();
    const int c = std::clamp(static_cast<int>((m.x - p0.x) / iw * cols), 0, cols - 1);
    const int r = std::clamp(static_cast<int>((m.y - p0.y) / rh), 0, rows - 1);
    const uint8_t v = tm.history[static_cast<size_t>(r) * cols + c];
    ImGui::SetTooltip("step %d, position %d: %s", tm.history_steps[r], c,
                      v == TierMap::kTierAbsent ? "not yet in the sequence" : v == TierMap::kTierDropped ? "dropped" : tm.tier_names[v].c_str());
  }
  ImGui::End();
}

}  // namespace skv::studio
