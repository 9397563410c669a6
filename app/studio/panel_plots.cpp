// Live plots: per-step latency and speed, KV bytes (resident, modeled read, measured read),
// achieved bandwidth, fidelity. Every series says where its numbers come from.
#include <algorithm>
#include <cmath>
#include <map>

#include <imgui.h>
#include <implot.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {
namespace {

// Records of the newest run only: steps restart at 0 with each run.
template <typename R>
std::vector<const R*> newest_run(const std::vector<R>& recs) {
  size_t from = 0;
  for (size_t i = recs.size(); i-- > 0;)
    if (recs[i].step == 0) {
      from = i;
      break;
    }
  std::vector<const R*> out;
  for (size_t i = from; i < recs.size(); ++i)
    if (recs[i].step >= 0) out.push_back(&recs[i]);
  return out;
}

// One plotted series, sorted by step: x = step, y = value.
struct Series {
  std::vector<double> x, y;
  bool empty() const { return x.empty(); }
};

Series from_map(const std::map<int64_t, double>& m) {
  Series s;
  s.x.reserve(m.size());
  s.y.reserve(m.size());
  for (auto [x, v] : m) s.x.push_back(static_cast<double>(x)), s.y.push_back(v);
  return s;
}

Series by_step(const std::vector<double>& steps, const std::vector<double>& values, size_t first = 0) {
  std::map<int64_t, double> m;
  for (size_t i = first; i < std::min(steps.size(), values.size()); ++i) m[static_cast<int64_t>(steps[i])] = values[i];
  return from_map(m);
}

// A tooltip with the series' values at the hovered step.
void hover_values(const std::vector<std::pair<const char*, const Series*>>& series, const char* unit_fmt) {
  if (!ImPlot::IsPlotHovered()) return;
  const int64_t step = static_cast<int64_t>(std::llround(ImPlot::GetPlotMousePos().x));
  ImGui::BeginTooltip();
  ImGui::Text("step %lld", static_cast<long long>(step));
  for (const auto& [name, s] : series) {
    auto it = std::lower_bound(s->x.begin(), s->x.end(), static_cast<double>(step));
    if (it == s->x.end() || *it != static_cast<double>(step)) ImGui::TextDisabled("%s: -", name);
    else ImGui::Text(unit_fmt, name, s->y[static_cast<size_t>(it - s->x.begin())]);
  }
  ImGui::EndTooltip();
}

// Plots the points inside the shared x range (plus one either side, so lines reach the edges):
// a run's thousands of steps cost nothing while the view follows the newest 128.
void plot_series(const char* label, const Series& s, double x_min, double x_max, ImAxis y = ImAxis_Y1) {
  auto a = std::lower_bound(s.x.begin(), s.x.end(), x_min);
  auto b = std::upper_bound(a, s.x.end(), x_max);
  if (a != s.x.begin()) --a;
  if (b != s.x.end()) ++b;
  const size_t from = static_cast<size_t>(a - s.x.begin()), n = static_cast<size_t>(b - a);
  ImPlot::SetAxis(y);
  ImPlot::PlotLine(label, s.x.data() + from, s.y.data() + from, static_cast<int>(n));
}

void plot_note(const char* text) {
  // A note pinned to the plot's bottom-left corner (the legend sits top-left).
  const ImPlotRect r = ImPlot::GetPlotLimits();
  ImPlotSpec spec;
  spec.Flags = ImPlotItemFlags_NoFit;  // a note must not move the axes it is pinned to
  ImPlot::PlotText(text, r.X.Min, r.Y.Min, ImVec2(ImGui::CalcTextSize(text).x * 0.5f + 6, -ImGui::GetTextLineHeight() * 0.5f - 4), spec);
}

}  // namespace

// Every plotted series of one snapshot (and probe snapshot), built once per snapshot.
struct PlotsCache {
  SnapshotKey key;
  Series latency, rate, resident, budget, full, modeled, measured, bandwidth, attn_err, kl, top1, top1_running;
};

namespace {

void build_plots(PlotsCache& c, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe) {
  const auto& s = snap.series;
  // The first token's time is the whole prefill: plot decode steps (index >= 1) only.
  c.latency = by_step(s.step, s.step_ms, 1);
  c.rate = by_step(s.step, s.tokens_per_s, 1);
  c.resident = by_step(s.step, s.resident_bytes);
  c.budget = by_step(s.step, s.budget_bytes);
  c.full = by_step(s.step, s.full_fp16_bytes);
  std::map<int64_t, double> modeled, measured, bandwidth;
  if (!s.read_modeled.empty()) c.modeled = by_step(s.step, s.read_modeled);
  else {
    for (const auto* r : newest_run(probe.modeled)) modeled[r->step] += static_cast<double>(r->modeled_bytes.value);
    c.modeled = from_map(modeled);
  }
  for (const auto* r : newest_run(probe.counters)) {
    if (r->layer != probes::kNoLayer) continue;  // whole-step ranges only
    measured[r->step] += static_cast<double>(r->dram_bytes_read.value);
    if (r->gpu_time_ns > 0) bandwidth[r->step] = static_cast<double>(r->dram_bytes_read.value) / r->gpu_time_ns;  // B/ns = GB/s
  }
  c.measured = from_map(measured);
  c.bandwidth = from_map(bandwidth);
  c.attn_err = by_step(std::vector<double>(s.step.end() - static_cast<std::ptrdiff_t>(std::min(s.step.size(), s.attn_error_mean.size())), s.step.end()),
                       s.attn_error_mean);
  // KL and top-1 against the full-cache reference (NaN where not measured: skipped).
  std::map<int64_t, double> kl, top1, top1_running;
  const size_t n = std::min(s.step.size(), s.kl.size());
  double agree = 0;
  int64_t seen = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = static_cast<int64_t>(s.step[s.step.size() - n + i]);
    if (std::isfinite(s.kl[i])) kl[x] = s.kl[i];
    if (i < s.top1_agree.size() && std::isfinite(s.top1_agree[i])) {
      top1[x] = s.top1_agree[i];
      agree += s.top1_agree[i];
      top1_running[x] = agree / static_cast<double>(++seen);
    }
  }
  c.kl = from_map(kl);
  c.top1 = from_map(top1);
  c.top1_running = from_map(top1_running);
}

}  // namespace

void draw_plots_panel(PlotsState& st, const StudioSnapshot& snap, const probes::ProbeSnapshot& probe) {
  if (!ImGui::Begin(kPlotsPanel)) {
    ImGui::End();
    return;
  }
  ImGui::Checkbox("follow", &st.follow);
  help_tooltip("Keep the newest steps in view. Turn off to pan and zoom (drag, scroll; double-click to fit).");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8);
  ImGui::SliderInt("steps shown", &st.window_steps, 16, 2048, "%d", ImGuiSliderFlags_Logarithmic);
  help_tooltip("How many of the newest steps the plots show while following.");

  const auto& s = snap.series;
  if (s.step.empty()) {
    empty_state("No steps yet", "Start a run (Space or the Run button): every decoded token adds a point here.");
    ImGui::End();
    return;
  }
  const double last = s.step.back();
  if (st.follow) {
    st.x_min = std::max(0.0, last - st.window_steps);
    st.x_max = std::max(last + 1.0, st.x_min + 8.0);
  }
  if (!st.cache) st.cache = std::make_shared<PlotsCache>();
  SnapshotKey key;
  key.ptr = &snap;
  key.version = snap.version;
  key.tokens = static_cast<int64_t>(s.step.size());
  key.replay_step = snap.replay ? snap.replay_step : -1;
  key.probe = &probe;
  key.probe_version = probe.version;
  if (!(st.cache->key == key)) {
    st.cache->key = key;
    build_plots(*st.cache, snap, probe);
  }
  const PlotsCache& c = *st.cache;
  // While following, only the steps in view are handed to ImPlot; panning / fitting sees them all.
  const double lo = st.follow ? st.x_min : -INFINITY, hi = st.follow ? st.x_max : INFINITY;
  const auto &latency = c.latency, &rate = c.rate, &resident = c.resident, &budget = c.budget, &full = c.full, &modeled = c.modeled,
             &measured = c.measured, &bandwidth = c.bandwidth, &attn_err = c.attn_err, &kl = c.kl, &top1 = c.top1,
             &top1_running = c.top1_running;
  const float h = std::max(ImGui::GetFontSize() * 9.0f, (ImGui::GetContentRegionAvail().y - ImGui::GetStyle().ItemSpacing.y * 3) / 4.0f);
  const ImPlotAxisFlags yflags = ImPlotAxisFlags_AutoFit | ImPlotAxisFlags_RangeFit;
  const ImPlotCond xcond = st.follow ? ImPlotCond_Always : ImPlotCond_Once;

  if (ImPlot::BeginPlot("Step latency and speed", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step", ImPlotAxisFlags_None);
    ImPlot::SetupAxisLimits(ImAxis_X1, lo, hi, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "ms / step", yflags);
    ImPlot::SetupAxis(ImAxis_Y2, "tokens/s", yflags | ImPlotAxisFlags_Opposite);
    plot_series("step latency (host timer)", latency, lo, hi, ImAxis_Y1);
    plot_series("tokens/s (8-step window)", rate, lo, hi, ImAxis_Y2);
    hover_values({{"latency ms", &latency}, {"tokens/s", &rate}}, "%s: %.2f");
    ImPlot::EndPlot();
  }
  if (ImPlot::BeginPlot("KV bytes per step", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step");
    ImPlot::SetupAxisLimits(ImAxis_X1, lo, hi, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "bytes", yflags);
    plot_series("resident KV (backend layout)", resident, lo, hi);
    plot_series("full fp16 cache of the same tokens", full, lo, hi);
    if (!budget.empty()) plot_series("budget", budget, lo, hi);
    plot_series("read per step: modeled", modeled, lo, hi);
    plot_series("read per step: measured (CUPTI)", measured, lo, hi);
    if (measured.empty()) plot_note("measured (CUPTI): none - needs a GPU and the counters probe level");
    hover_values({{"resident", &resident}, {"full fp16", &full}, {"budget", &budget}, {"modeled read", &modeled}, {"measured read", &measured}},
                 "%s: %.4g B");
    ImPlot::EndPlot();
  }
  if (ImPlot::BeginPlot("Achieved bandwidth", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step");
    ImPlot::SetupAxisLimits(ImAxis_X1, lo, hi, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "GB/s", yflags);
    if (snap.copy_bandwidth_gbs > 0) ImPlot::SetupAxisLimits(ImAxis_Y1, 0, snap.copy_bandwidth_gbs * 1.1, ImPlotCond_Once);
    plot_series("DRAM read / GPU time (CUPTI)", bandwidth, lo, hi);
    if (snap.copy_bandwidth_gbs > 0) {
      // The device's measured copy bandwidth: what a decode step's reads could reach at best.
      ImPlotSpec spec;
      spec.Flags = ImPlotInfLinesFlags_Horizontal;
      const double y = snap.copy_bandwidth_gbs;
      ImPlot::PlotInfLines("device copy bandwidth (measured)", &y, 1, spec);
    }
    std::string note;
    if (bandwidth.empty()) note = "no CUPTI bandwidth (GPU counters only); ";
    note += snap.copy_bandwidth_note.empty() ? "device limit: not measured" : snap.copy_bandwidth_note;
    plot_note(note.c_str());
    hover_values({{"GB/s", &bandwidth}}, "%s: %.1f");
    ImPlot::EndPlot();
  }
  if (ImPlot::BeginPlot("Fidelity vs the full cache", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step");
    ImPlot::SetupAxisLimits(ImAxis_X1, lo, hi, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "KL (nats) / relative error", yflags);
    ImPlot::SetupAxis(ImAxis_Y2, "top-1 agreement", ImPlotAxisFlags_Opposite | ImPlotAxisFlags_Lock);
    ImPlot::SetupAxisLimits(ImAxis_Y2, -0.05, 1.05, ImPlotCond_Always);
    plot_series("next-token KL(full || compressed)", kl, lo, hi, ImAxis_Y1);
    plot_series("mean attention-output error (teacher forced)", attn_err, lo, hi, ImAxis_Y1);
    plot_series("top-1 agreement, running mean", top1_running, lo, hi, ImAxis_Y2);
    if (kl.empty()) plot_note(("KL / top-1: " + (snap.fidelity_why_not.empty() ? std::string("no step compared yet") : snap.fidelity_why_not)).c_str());
    hover_values({{"KL nats", &kl}, {"top-1 agrees", &top1}, {"top-1 running", &top1_running}, {"attn error", &attn_err}}, "%s: %.4g");
    ImPlot::EndPlot();
  }
  ImGui::End();
}

}  // namespace skv::studio
