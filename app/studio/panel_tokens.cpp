// Tokens: the prompt and the generated text, one box per token coloured by how the cache keeps it;
// hover for its id, timing, alternatives and per-head tiers.
#include <algorithm>
#include <string>

#include <imgui.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {
namespace {

// Printable form of a token's bytes: newlines and tabs shown, other control bytes escaped.
std::string printable(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out;
}

// How the cache keeps one position over every (layer, KV head): share per tier and dropped.
struct Retention {
  bool known = false;
  float top = 0, dropped = 0, mean_tier = 0;
};
ImU32 retention_color(const Retention& r, bool prompt) {
  if (!r.known) return prompt ? IM_COL32(60, 70, 80, 255) : IM_COL32(70, 90, 110, 255);
  // Mean kept tier picks the hue; the dropped share blends towards red.
  ImVec4 c = ImGui::ColorConvertU32ToFloat4(tier_color(static_cast<size_t>(r.mean_tier + 0.5f)));
  const ImVec4 red = ImGui::ColorConvertU32ToFloat4(kTierDroppedColor);
  c = ImVec4(c.x + (red.x - c.x) * r.dropped, c.y + (red.y - c.y) * r.dropped, c.z + (red.z - c.z) * r.dropped, 1);
  if (prompt) c = ImVec4(c.x * 0.7f, c.y * 0.7f, c.z * 0.7f, 1);
  return ImGui::ColorConvertFloat4ToU32(c);
}

// A tiny layers x heads picture of one position's tiers, for the hover tooltip.
void tier_grid(const TierMap& tm, int64_t pos) {
  const float cell = std::max(4.0f, ImGui::GetFontSize() * 0.45f);
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  for (int l = 0; l < tm.layers; ++l)
    for (int h = 0; h < tm.heads; ++h) {
      const uint8_t v = tm.current[(static_cast<size_t>(l) * tm.heads + h) * tm.positions + pos];
      const ImU32 col = v == TierMap::kTierDropped ? kTierDroppedColor : tier_color(v);
      const ImVec2 a(p0.x + h * cell, p0.y + l * cell);
      dl->AddRectFilled(a, ImVec2(a.x + cell - 1, a.y + cell - 1), col);
    }
  ImGui::Dummy(ImVec2(cell * tm.heads, cell * tm.layers));
}

SnapshotKey key_of(const StudioSnapshot& snap) {
  SnapshotKey k;
  k.ptr = &snap;
  k.version = snap.version;
  k.tokens = static_cast<int64_t>(snap.tokens.size() + snap.prompt_tokens.size());
  k.replay_step = snap.replay ? snap.replay_step : -1;
  return k;
}

}  // namespace

// The laid-out text of one snapshot at one width: a box per token, in window-local coordinates
// (y grows down, rows in order), so a frame draws and hit-tests only the rows in view.
struct TokenLayout {
  SnapshotKey key;
  float width = 0, font_size = 0;
  bool show_prompt = true;
  struct Box {
    float x, y, w, h;
    ImU32 bg;
    bool prompt;
    size_t index;  // into prompt_tokens or tokens
    std::string text;
    Retention ret;
  };
  std::vector<Box> boxes;
  float height = 0;
};

namespace {

// How every position is kept, in one sequential pass over the tier map (a token at a time would
// stride through it: positions x cells scattered reads per rebuild).
std::vector<Retention> retention_all(const TierMap& tm) {
  std::vector<Retention> r(static_cast<size_t>(std::max(tm.positions, 0)));
  const int cells = tm.layers * tm.heads;
  if (!tm.available || cells == 0 || tm.current.size() < static_cast<size_t>(cells) * tm.positions) return r;
  for (int c = 0; c < cells; ++c) {
    const uint8_t* row = tm.current.data() + static_cast<size_t>(c) * tm.positions;
    for (int p = 0; p < tm.positions; ++p) {
      const uint8_t v = row[p];
      if (v == TierMap::kTierDropped) r[p].dropped += 1;
      else {
        if (v == 0) r[p].top += 1;
        r[p].mean_tier += v;
      }
    }
  }
  for (auto& x : r) {
    x.known = true;
    if (cells - x.dropped > 0) x.mean_tier /= (cells - x.dropped);
    x.top /= cells;
    x.dropped /= cells;
  }
  return r;
}

void build_layout(TokenLayout& L, const StudioSnapshot& snap, float right) {
  L.boxes.clear();
  const std::vector<Retention> retention = retention_all(snap.tiers);
  const float line_h = ImGui::GetTextLineHeightWithSpacing();
  const float pad = 2.0f;
  float x = 0, y = 0;
  auto add = [&](const TokenView& t, bool prompt, size_t index) {
    std::string text = printable(t.piece);
    const ImVec2 sz = ImGui::CalcTextSize(text.c_str());
    if (x + sz.x + pad > right && x > 0) {
      x = 0;
      y += line_h;
    }
    // Colour = retention: the tier share of the token's position over every (layer, KV head).
    const Retention ret = t.position >= 0 && t.position < static_cast<int64_t>(retention.size()) ? retention[static_cast<size_t>(t.position)] : Retention{};
    L.boxes.push_back({x, y, sz.x + pad, std::max(sz.y, 1.0f), retention_color(ret, prompt), prompt, index, std::move(text), ret});
    x += sz.x + pad + 1.0f;
    if (t.piece.find('\n') != std::string::npos) {
      x = 0;
      y += line_h;
    }
  };
  if (L.show_prompt)
    for (size_t i = 0; i < snap.prompt_tokens.size(); ++i) add(snap.prompt_tokens[i], true, i);
  if (L.show_prompt && !snap.tokens.empty() && x > 0) {
    x = 0;
    y += line_h * 1.3f;
  }
  for (size_t i = 0; i < snap.tokens.size(); ++i) add(snap.tokens[i], false, i);
  L.height = y + line_h;
}

void token_tooltip(const StudioSnapshot& snap, const TokenLayout::Box& b) {
  const TokenView& t = b.prompt ? snap.prompt_tokens[b.index] : snap.tokens[b.index];
  ImGui::BeginTooltip();
  if (t.id < 0) ImGui::Text("prompt text \"%s\" (a session keeps the prompt's ids and text, not its pieces)", b.text.c_str());
  else ImGui::Text("position %lld, id %d: \"%s\"", static_cast<long long>(t.position), t.id, b.text.c_str());
  if (!b.prompt) {
    ImGui::Text("generated #%lld, %.2f ms %s", static_cast<long long>(t.index), t.step_ms, t.index == 0 ? "(prefill + first token)" : "");
    for (size_t i = 0; i < t.top.size(); ++i)
      ImGui::Text("  %-16s logit %.3f", printable(i < t.top_pieces.size() ? t.top_pieces[i] : "").c_str(), t.top[i].second);
  }
  if (b.ret.known) {
    ImGui::Text("%s: %.0f %%, dropped %.0f %% of (layer, KV head) slots", snap.tiers.tier_names[0].c_str(), 100 * b.ret.top, 100 * b.ret.dropped);
    ImGui::TextDisabled("tier per head (rows: layers, columns: KV heads)");
    tier_grid(snap.tiers, t.position);
  }
  ImGui::EndTooltip();
}

}  // namespace

void draw_tokens_panel(TokensState& st, const StudioSnapshot& snap) {
  st.drawn_tokens = 0;
  if (!ImGui::Begin(kTokensPanel)) {
    ImGui::End();
    return;
  }
  ImGui::Checkbox("show prompt", &st.show_prompt);
  help_tooltip("Show the prompt's tokens (dimmed) before the generated ones.");
  ImGui::SameLine();
  if (!snap.backend_name.empty()) ImGui::TextDisabled("colour = how %s keeps each token (green: full precision, yellow/orange: coarser tiers, red: dropped)", snap.backend_name.c_str());
  if (snap.prompt_tokens.empty() && snap.tokens.empty()) {
    empty_state("No text yet", "Start a run: the prompt and every generated token appear here.");
    ImGui::End();
    return;
  }
  if (ImGui::BeginChild("##text", ImVec2(0, 0), ImGuiChildFlags_None)) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float right = ImGui::GetContentRegionAvail().x;
    const float line_h = ImGui::GetTextLineHeightWithSpacing();
    if (!st.layout) st.layout = std::make_shared<TokenLayout>();
    TokenLayout& L = *st.layout;
    const SnapshotKey key = key_of(snap);
    if (!(L.key == key) || L.width != right || L.show_prompt != st.show_prompt || L.font_size != ImGui::GetFontSize()) {
      L.key = key;
      L.width = right;
      L.show_prompt = st.show_prompt;
      L.font_size = ImGui::GetFontSize();
      build_layout(L, snap, right);
    }
    const ImVec2 start = ImGui::GetCursorScreenPos();
    // Only the rows in view: boxes are in row order, so two binary searches bound them.
    const ImVec2 clip0 = dl->GetClipRectMin(), clip1 = dl->GetClipRectMax();
    const float y0 = clip0.y - start.y - line_h, y1 = clip1.y - start.y;
    auto first = std::lower_bound(L.boxes.begin(), L.boxes.end(), y0, [](const TokenLayout::Box& b, float y) { return b.y < y; });
    auto last = std::upper_bound(first, L.boxes.end(), y1, [](float y, const TokenLayout::Box& b) { return y < b.y; });
    const bool hovered_window = ImGui::IsWindowHovered();
    const ImVec2 m = ImGui::GetMousePos();
    const TokenLayout::Box* hovered = nullptr;
    for (auto it = first; it != last; ++it) {
      const TokenLayout::Box& b = *it;
      const ImVec2 p(start.x + b.x, start.y + b.y);
      dl->AddRectFilled(p, ImVec2(p.x + b.w, p.y + b.h), b.bg, 2.0f);
      dl->AddText(ImVec2(p.x + 1.0f, p.y), b.prompt ? IM_COL32(200, 210, 205, 255) : IM_COL32(255, 255, 255, 255), b.text.c_str());
      if (hovered_window && m.x >= p.x && m.x < p.x + b.w && m.y >= p.y && m.y < p.y + b.h) hovered = &b;
    }
    st.drawn_tokens = last - first;
    if (hovered) token_tooltip(snap, *hovered);
    ImGui::Dummy(ImVec2(std::max(1.0f, right), std::max(1.0f, L.height - line_h)));
    ImGui::Dummy(ImVec2(1, line_h));  // the last row: what SetScrollHereY below brings into view
    // Follow the newest token while the user has not scrolled up.
    if (ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - line_h * 2) ImGui::SetScrollHereY(1.0f);
  }
  ImGui::EndChild();
  ImGui::End();
}

}  // namespace skv::studio
