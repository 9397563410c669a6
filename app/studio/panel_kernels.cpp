// Kernels: a timeline of the CUPTI kernel records of the last steps (one lane per stream).
// Without CUPTI it says why, and shows the host timer's step times instead (labelled as such).
#include <algorithm>
#include <map>
#include <vector>

#include <imgui.h>
#include <implot.h>

#include "app/studio/kernel_spans.h"
#include "app/studio/studio_panels.h"

namespace skv::studio {
namespace {

ImU32 kernel_color(const char* name) {
  // Stable colour per kernel name (hash -> hue).
  unsigned h = 2166136261u;
  for (const char* p = name; *p; ++p) h = (h ^ static_cast<unsigned char>(*p)) * 16777619u;
  float r, g, b;
  ImGui::ColorConvertHSVtoRGB(static_cast<float>(h % 360) / 360.0f, 0.55f, 0.85f, r, g, b);
  return ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, 1));
}

}  // namespace

// The kernels of the shown steps, in ms from the first one, sorted by (lane, start): rebuilt only
// when the probe snapshot or the step count changes, not every frame (a GPU step launches ~1000
// kernels; filtering, lane lookups and sorting them each frame cost milliseconds).
struct KernelTimelineCache {
  struct Key {
    uint64_t version = 0;
    size_t records = 0;
    uint64_t last_end = 0;
    int last_steps = 0;
    int64_t replay_step = 0;
    bool operator==(const Key&) const = default;
  } key;
  bool valid = false;
  struct Entry {
    int lane;
    double a, b;  // ms from t0
    const probes::KernelRecord* k;
  };
  std::vector<Entry> entries;
  int lanes = 0;
  uint64_t t0 = 0, t1 = 0;
  int64_t max_step = -1;
};

namespace {

void rebuild(KernelTimelineCache& c, const probes::ProbeSnapshot& probe, int last_steps) {
  c.entries.clear();
  int64_t max_step = -1;
  for (const auto& k : probe.kernels) max_step = std::max(max_step, k.step);
  std::vector<const probes::KernelRecord*> ks;
  for (const auto& k : probe.kernels)
    if (max_step < 0 || k.step > max_step - last_steps) ks.push_back(&k);
  c.max_step = max_step;
  c.lanes = 0;
  if (ks.empty()) return;
  uint64_t t0 = UINT64_MAX, t1 = 0;
  std::map<uint32_t, int> lanes;
  for (const auto* k : ks) {
    t0 = std::min(t0, k->start_ns);
    t1 = std::max(t1, k->end_ns);
    lanes.emplace(k->stream, 0);
  }
  int lane = 0;
  for (auto& [stream, idx] : lanes) idx = lane++;
  c.lanes = lane;
  c.t0 = t0;
  c.t1 = t1;
  c.entries.reserve(ks.size());
  for (const auto* k : ks) c.entries.push_back({lanes[k->stream], (k->start_ns - t0) / 1e6, (k->end_ns - t0) / 1e6, k});
  std::sort(c.entries.begin(), c.entries.end(), [](const auto& x, const auto& y) { return x.lane != y.lane ? x.lane < y.lane : x.a < y.a; });
}

void draw_timeline(KernelsState& st, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe) {
  if (!st.timeline) st.timeline = std::make_shared<KernelTimelineCache>();
  KernelTimelineCache& c = *st.timeline;
  KernelTimelineCache::Key key{probe.version, probe.kernels.size(), probe.kernels.empty() ? 0 : probe.kernels.back().end_ns,
                               st.last_steps, snap.replay ? snap.replay_step : -1};
  if (!c.valid || !(c.key == key)) {
    rebuild(c, probe, st.last_steps);
    c.key = key;
    c.valid = true;
  }
  if (c.entries.empty()) return;
  const int64_t max_step = c.max_step;
  const uint64_t t0 = c.t0, t1 = c.t1;
  st.shown_kernels = static_cast<int64_t>(c.entries.size());
  st.shown_first_step = std::max<int64_t>(0, max_step - st.last_steps + 1);
  st.shown_last_step = max_step;
  st.shown_span_ms = (t1 - t0) / 1e6;
  ImGui::Text("%zu kernels, %.3f ms, steps %lld..%lld (measured, CUPTI activity%s)", c.entries.size(), st.shown_span_ms,
              static_cast<long long>(st.shown_first_step), static_cast<long long>(max_step),
              snap.replay ? ", replayed from the session's probe/kernels" : "");
  if (ImPlot::BeginPlot("##kernels", ImVec2(-1, -1), ImPlotFlags_NoLegend)) {
    ImPlot::SetupAxes("time (ms)", "stream", ImPlotAxisFlags_None, ImPlotAxisFlags_Lock | ImPlotAxisFlags_NoTickLabels);
    // Follow: the time axis fits the shown steps every frame (they move as steps arrive); off,
    // the user's zoom and pan are kept.
    ImPlot::SetupAxesLimits(0, (t1 - t0) / 1e6, -0.5, c.lanes - 0.5, st.follow ? ImPlotCond_Always : ImPlotCond_Once);
    ImDrawList* dl = ImPlot::GetPlotDrawList();
    ImPlot::PushPlotClipRect();
    const probes::KernelRecord* hovered = nullptr;
    const ImPlotPoint m = ImPlot::GetPlotMousePos();
    const bool plot_hovered = ImPlot::IsPlotHovered();
    // A decode step launches ~1000 small kernels: drawn one rectangle each, the last steps cost
    // ~130k vertices and ~8 ms of UI time a frame (skv_studio_frames on the H100 machine). Each
    // lane is drawn as merged pixel spans instead (kernel_spans.h; the colour of a run's first
    // kernel): a few rectangles per pixel column, the same picture at any zoom.
    // Kernels outside the visible time range are skipped (a draw list does not cull: zoomed in,
    // thousands of off-screen rectangles still cost vertices), long ones clipped to it.
    const float px_left = ImPlot::GetPlotPos().x, px_right = px_left + ImPlot::GetPlotSize().x;
    // Plot x to pixels by the axis's own linear map, computed once (no per-kernel ImPlot calls).
    const ImPlotRect lim = ImPlot::GetPlotLimits();
    const double xscale = (px_right - px_left) / std::max(1e-12, lim.X.Max - lim.X.Min);
    std::vector<PixelSpan> spans;
    spans.reserve(c.entries.size());
    for (size_t i = 0; i < c.entries.size(); ++i) {
      const auto& e = c.entries[i];
      if (e.b < lim.X.Min || e.a > lim.X.Max) continue;
      float x0 = static_cast<float>(px_left + (e.a - lim.X.Min) * xscale);
      float x1 = std::max(static_cast<float>(px_left + (e.b - lim.X.Min) * xscale), x0 + 1.0f);
      x0 = std::max(x0, px_left - 1.0f);
      x1 = std::min(x1, px_right + 1.0f);
      spans.push_back({e.lane, x0, x1, i});
      if (plot_hovered && m.x >= e.a && m.x <= e.b && std::abs(m.y - e.lane) < 0.4) hovered = e.k;
    }
    const std::vector<PixelSpan> runs = merge_pixel_spans(std::move(spans));
    for (const PixelSpan& r : runs) {
      const float ytop = ImPlot::PlotToPixels(0, r.lane + 0.4).y, ybot = ImPlot::PlotToPixels(0, r.lane - 0.4).y;
      dl->AddRectFilled(ImVec2(r.x0, ytop), ImVec2(r.x1, ybot), kernel_color(c.entries[r.first].k->name.text));
    }
    st.shown_rects = static_cast<int64_t>(runs.size());
    ImPlot::PopPlotClipRect();
    if (hovered) {
      ImGui::BeginTooltip();
      ImGui::TextUnformatted(hovered->name.text);
      ImGui::Text("%.3f us, step %lld, layer %d, stream %u", hovered->duration_ns() / 1e3, static_cast<long long>(hovered->step),
                  hovered->layer, hovered->stream);
      ImGui::Text("grid (%d,%d,%d) block (%d,%d,%d)", hovered->grid.x, hovered->grid.y, hovered->grid.z, hovered->block.x,
                  hovered->block.y, hovered->block.z);
      ImGui::EndTooltip();
    }
    ImPlot::EndPlot();
  }
}

}  // namespace

void draw_kernels_panel(KernelsState& st, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe) {
  if (!ImGui::Begin(kKernelsPanel)) {
    ImGui::End();
    return;
  }
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8);
  ImGui::SliderInt("last steps", &st.last_steps, 1, 32);
  help_tooltip("How many of the newest decode steps the timeline shows.");
  ImGui::SameLine();
  ImGui::Checkbox("follow", &st.follow);
  help_tooltip("Fit the time axis to the newest steps every frame. Off: zoom and pan stay as you leave them.");
  st.shown_kernels = st.shown_rects = 0;
  st.shown_first_step = st.shown_last_step = -1;
  st.shown_span_ms = 0;
  st.host_steps.clear();
  st.host_ms.clear();
  if (!probe.kernels.empty()) {
    draw_timeline(st, snap, probe);
    ImGui::End();
    return;
  }
  std::string why = "The kernel timeline needs the 'timeline' probe level on a GPU with CUPTI.";
  for (const auto& s : probe.statuses) why += std::string("\n- ") + s.message.text;
  if (!snap.probe_level.empty()) why += "\nProbe level reached for this run: " + snap.probe_level + ".";
  if (snap.replay) why += "\nReplay: this session's probe stream (probe/) has no kernel records.";
  empty_state("No CUPTI kernel records", why.c_str());
  // What the host saw instead: per-step wall time (CPU timer; for GPU work this is launch + sync).
  std::vector<double> xs, ys;
  int64_t first = 0;
  for (size_t i = probe.cpu.size(); i-- > 0;)
    if (probe.cpu[i].step == 0) {
      first = static_cast<int64_t>(i);
      break;
    }
  for (size_t i = static_cast<size_t>(first); i < probe.cpu.size(); ++i)
    if (probe.cpu[i].step > 0) {
      xs.push_back(static_cast<double>(probe.cpu[i].step));
      ys.push_back(probe.cpu[i].ns / 1e6);
    }
  if (xs.size() > 64) {
    xs.erase(xs.begin(), xs.end() - 64);
    ys.erase(ys.begin(), ys.end() - 64);
  }
  st.host_steps = xs;
  st.host_ms = ys;
  if (snap.replay && !xs.empty()) ImGui::TextDisabled("replayed from the session's probe/cpu records (steps up to %lld)", static_cast<long long>(xs.back()));
  if (!xs.empty() && ImPlot::BeginPlot("Host time per decode step (CPU timer)", ImVec2(-1, -1), ImPlotFlags_NoLegend)) {
    ImPlot::SetupAxes("step", "ms", ImPlotAxisFlags_AutoFit, ImPlotAxisFlags_AutoFit);
    ImPlot::PlotBars("host step time", xs.data(), ys.data(), static_cast<int>(xs.size()), 0.7);
    if (ImPlot::IsPlotHovered()) {
      const double mx = ImPlot::GetPlotMousePos().x;
      for (size_t i = 0; i < xs.size(); ++i)
        if (std::abs(xs[i] - mx) < 0.5) ImGui::SetTooltip("step %.0f: %.2f ms (CPU timer)", xs[i], ys[i]);
    }
    ImPlot::EndPlot();
  }
  ImGui::End();
}

}  // namespace skv::studio
