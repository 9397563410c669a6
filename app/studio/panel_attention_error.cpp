// Attention-error heatmap: ‖o − ô‖ / ‖o‖ per (layer, query head) against exact attention on the
// same inputs; click a cell for that head's exact vs compressed attention over positions.
#include <algorithm>
#include <cmath>

#include <imgui.h>
#include <implot.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {

void draw_attention_error_panel(ErrorMapState& st, const StudioSnapshot& snap) {
  if (!ImGui::Begin(kErrorPanel)) {
    ImGui::End();
    return;
  }
  const AttentionErrorMap& ae = snap.attention_error;
  if (!ae.available || ae.layers == 0 || ae.heads == 0) {
    empty_state("No attention error measured",
                ae.why_not.empty() ? "Start a run with 'measure attention error' on (Run panel)." : ae.why_not.c_str());
    ImGui::End();
    return;
  }
  ImGui::TextDisabled("%s, %lld steps", ae.compared.c_str(), static_cast<long long>(ae.steps_measured));
  ImGui::Checkbox("running mean", &st.show_mean);
  help_tooltip("Show the mean over all measured steps instead of the last step.");
  const std::vector<float>& values = st.show_mean ? ae.mean : ae.last;
  const float vmax = values.empty() ? 0.0f : *std::max_element(values.begin(), values.end());
  if (vmax == 0.0f) {
    ImGui::SameLine();
    ImGui::TextDisabled("all zero: the backend is exact here");
  }
  const double scale_max = std::max(1e-6, static_cast<double>(vmax));

  const float bar_w = ImGui::GetFontSize() * 5.5f;
  const float map_h = std::max(ImGui::GetFontSize() * 8, ImGui::GetContentRegionAvail().y * 0.55f);
  ImPlot::PushColormap(ImPlotColormap_Viridis);
  if (ImPlot::BeginPlot("##error_map", ImVec2(ImGui::GetContentRegionAvail().x - bar_w, map_h), ImPlotFlags_NoLegend | ImPlotFlags_NoMenus)) {
    ImPlot::SetupAxes("query head", "layer", ImPlotAxisFlags_Lock, ImPlotAxisFlags_Lock | ImPlotAxisFlags_Invert);
    ImPlot::SetupAxesLimits(0, ae.heads, 0, ae.layers, ImPlotCond_Always);
    const ImVec2 pp = ImPlot::GetPlotPos(), ps = ImPlot::GetPlotSize();
    st.map_x0 = pp.x, st.map_y0 = pp.y, st.map_x1 = pp.x + ps.x, st.map_y1 = pp.y + ps.y;
    // Rows are layers: bounds run from y = layers down to 0, so with the inverted axis the value
    // under the mouse is the layer index and layer 0 sits at the top.
    ImPlot::PlotHeatmap("error", values.data(), ae.layers, ae.heads, 0.0, scale_max, nullptr, ImPlotPoint(0, ae.layers),
                        ImPlotPoint(ae.heads, 0));
    // Outline the selected cell.
    const ImVec2 a = ImPlot::PlotToPixels(st.head, st.layer), b = ImPlot::PlotToPixels(st.head + 1, st.layer + 1);
    ImPlot::GetPlotDrawList()->AddRect(ImVec2(std::min(a.x, b.x), std::min(a.y, b.y)), ImVec2(std::max(a.x, b.x), std::max(a.y, b.y)),
                                       IM_COL32(255, 80, 80, 255), 0, 0, 2.0f);
    if (ImPlot::IsPlotHovered()) {
      const ImPlotPoint m = ImPlot::GetPlotMousePos();
      const int h = static_cast<int>(std::floor(m.x)), l = static_cast<int>(std::floor(m.y));
      if (h >= 0 && h < ae.heads && l >= 0 && l < ae.layers) {
        const size_t i = static_cast<size_t>(l * ae.heads + h);
        ImGui::BeginTooltip();
        ImGui::Text("layer %d, query head %d", l, h);
        ImGui::Text("last step: %.4g", ae.last[i]);
        ImGui::Text("running mean: %.4g", ae.mean[i]);
        ImGui::TextDisabled("click for its attention distribution");
        ImGui::EndTooltip();
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) st.layer = l, st.head = h;
      }
    }
    ImPlot::EndPlot();
  }
  ImGui::SameLine();
  ImPlot::ColormapScale("##scale", 0.0, scale_max, ImVec2(bar_w * 0.9f, map_h), "%.2g");
  ImPlot::PopColormap();

  ImGui::Text("layer %d, head %d: attention over positions (newest query)", ae.focus_layer, ae.focus_head);
  if (ae.focus_layer != st.layer || ae.focus_head != st.head) {
    ImGui::SameLine();
    ImGui::TextDisabled("(L%d H%d from the next step)", st.layer, st.head);
  }
  if (ae.exact_probs.empty()) {
    ImGui::TextDisabled("%s", snap.replay ? ae.compressed_why_not.c_str() : "no distribution recorded yet");
  } else if (ImPlot::BeginPlot("##distribution", ImVec2(-1, -1))) {
    ImPlot::SetupAxes("position", "probability", ImPlotAxisFlags_AutoFit, ImPlotAxisFlags_AutoFit);
    // Thousands of positions on a few hundred pixels: each pixel column shows the largest
    // probability among its positions (peaks stay), a few hundred vertices instead of ~10 per position.
    const int columns = std::max(16, static_cast<int>(ImPlot::GetPlotSize().x));
    auto plot_peaks = [&](const char* label, const std::vector<float>& p) {
      const int n = static_cast<int>(p.size());
      if (n <= 2 * columns) {
        ImPlot::PlotLine(label, p.data(), n);
        return;
      }
      std::vector<float> xs, ys;
      xs.reserve(static_cast<size_t>(columns));
      ys.reserve(static_cast<size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        const int a = static_cast<int>(static_cast<int64_t>(c) * n / columns), b = static_cast<int>(static_cast<int64_t>(c + 1) * n / columns);
        int at = a;
        for (int k = a; k < b; ++k)
          if (p[static_cast<size_t>(k)] > p[static_cast<size_t>(at)]) at = k;
        xs.push_back(static_cast<float>(at));
        ys.push_back(p[static_cast<size_t>(at)]);
      }
      ImPlot::PlotLine(label, xs.data(), ys.data(), columns);
    };
    plot_peaks("exact", ae.exact_probs);
    if (!ae.compressed_probs.empty()) {
      plot_peaks("compressed", ae.compressed_probs);
    } else {
      const ImPlotRect r = ImPlot::GetPlotLimits();
      ImPlotSpec spec;
      spec.Flags = ImPlotItemFlags_NoFit;  // a note must not move the axes
      ImPlot::PlotText(("compressed: " + ae.compressed_why_not).c_str(), (r.X.Min + r.X.Max) / 2, r.Y.Max,
                       ImVec2(0, ImGui::GetTextLineHeight()), spec);
    }
    ImPlot::EndPlot();
  }
  ImGui::End();
}

}  // namespace skv::studio
