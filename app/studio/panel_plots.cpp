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

// A tooltip with the series' values at the hovered step.
void hover_values(const std::vector<std::pair<const char*, const std::map<int64_t, double>*>>& series, const char* unit_fmt) {
  if (!ImPlot::IsPlotHovered()) return;
  const int64_t step = static_cast<int64_t>(std::llround(ImPlot::GetPlotMousePos().x));
  ImGui::BeginTooltip();
  ImGui::Text("step %lld", static_cast<long long>(step));
  for (const auto& [name, values] : series) {
    auto it = values->find(step);
    if (it == values->end()) ImGui::TextDisabled("%s: -", name);
    else ImGui::Text(unit_fmt, name, it->second);
  }
  ImGui::EndTooltip();
}

std::map<int64_t, double> by_step(const std::vector<double>& steps, const std::vector<double>& values, size_t first = 0) {
  std::map<int64_t, double> m;
  for (size_t i = first; i < std::min(steps.size(), values.size()); ++i) m[static_cast<int64_t>(steps[i])] = values[i];
  return m;
}

void plot_series(const char* label, const std::map<int64_t, double>& m, ImAxis y = ImAxis_Y1) {
  std::vector<double> xs, ys;
  xs.reserve(m.size());
  ys.reserve(m.size());
  for (auto [x, v] : m) xs.push_back(static_cast<double>(x)), ys.push_back(v);
  ImPlot::SetAxis(y);
  ImPlot::PlotLine(label, xs.data(), ys.data(), static_cast<int>(xs.size()));
}

void plot_note(const char* text) {
  // A note pinned to the plot's bottom-left corner (the legend sits top-left).
  const ImPlotRect r = ImPlot::GetPlotLimits();
  ImPlotSpec spec;
  spec.Flags = ImPlotItemFlags_NoFit;  // a note must not move the axes it is pinned to
  ImPlot::PlotText(text, r.X.Min, r.Y.Min, ImVec2(ImGui::CalcTextSize(text).x * 0.5f + 6, -ImGui::GetTextLineHeight() * 0.5f - 4), spec);
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
  // The first token's time is the whole prefill: plot decode steps (index >= 1) only.
  const auto latency = by_step(s.step, s.step_ms, 1);
  const auto rate = by_step(s.step, s.tokens_per_s, 1);
  const auto resident = by_step(s.step, s.resident_bytes);
  const auto budget = by_step(s.step, s.budget_bytes);
  const auto full = by_step(s.step, s.full_fp16_bytes);
  std::map<int64_t, double> modeled, measured, bandwidth;
  if (!s.read_modeled.empty()) modeled = by_step(s.step, s.read_modeled);
  else
    for (const auto* r : newest_run(probe.modeled)) modeled[r->step] += static_cast<double>(r->modeled_bytes.value);
  for (const auto* r : newest_run(probe.counters)) {
    if (r->layer != probes::kNoLayer) continue;  // whole-step ranges only
    measured[r->step] += static_cast<double>(r->dram_bytes_read.value);
    if (r->gpu_time_ns > 0) bandwidth[r->step] = static_cast<double>(r->dram_bytes_read.value) / r->gpu_time_ns;  // B/ns = GB/s
  }
  const float h = std::max(ImGui::GetFontSize() * 9.0f, (ImGui::GetContentRegionAvail().y - ImGui::GetStyle().ItemSpacing.y * 3) / 4.0f);
  const ImPlotAxisFlags yflags = ImPlotAxisFlags_AutoFit | ImPlotAxisFlags_RangeFit;
  const ImPlotCond xcond = st.follow ? ImPlotCond_Always : ImPlotCond_Once;

  if (ImPlot::BeginPlot("Step latency and speed", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step", ImPlotAxisFlags_None);
    ImPlot::SetupAxisLimits(ImAxis_X1, st.x_min, st.x_max, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "ms / step", yflags);
    ImPlot::SetupAxis(ImAxis_Y2, "tokens/s", yflags | ImPlotAxisFlags_Opposite);
    plot_series("step latency (host timer)", latency, ImAxis_Y1);
    plot_series("tokens/s (8-step window)", rate, ImAxis_Y2);
    hover_values({{"latency ms", &latency}, {"tokens/s", &rate}}, "%s: %.2f");
    ImPlot::EndPlot();
  }
  if (ImPlot::BeginPlot("KV bytes per step", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step");
    ImPlot::SetupAxisLimits(ImAxis_X1, st.x_min, st.x_max, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "bytes", yflags);
    plot_series("resident KV (backend layout)", resident);
    plot_series("full fp16 cache of the same tokens", full);
    if (!budget.empty()) plot_series("budget", budget);
    plot_series("read per step: modeled", modeled);
    plot_series("read per step: measured (CUPTI)", measured);
    if (measured.empty()) plot_note("measured (CUPTI): none - needs a GPU and the counters probe level");
    hover_values({{"resident", &resident}, {"full fp16", &full}, {"budget", &budget}, {"modeled read", &modeled}, {"measured read", &measured}},
                 "%s: %.4g B");
    ImPlot::EndPlot();
  }
  if (ImPlot::BeginPlot("Achieved bandwidth", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step");
    ImPlot::SetupAxisLimits(ImAxis_X1, st.x_min, st.x_max, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "GB/s", yflags);
    if (snap.copy_bandwidth_gbs > 0) ImPlot::SetupAxisLimits(ImAxis_Y1, 0, snap.copy_bandwidth_gbs * 1.1, ImPlotCond_Once);
    plot_series("DRAM read / GPU time (CUPTI)", bandwidth);
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
  const auto attn_err = by_step(std::vector<double>(s.step.end() - static_cast<std::ptrdiff_t>(std::min(s.step.size(), s.attn_error_mean.size())), s.step.end()),
                                s.attn_error_mean);
  // KL and top-1 against the full-cache reference (NaN where not measured: skipped).
  std::map<int64_t, double> kl, top1, top1_running;
  {
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
  }
  if (ImPlot::BeginPlot("Fidelity vs the full cache", ImVec2(-1, h))) {
    ImPlot::SetupAxis(ImAxis_X1, "step");
    ImPlot::SetupAxisLimits(ImAxis_X1, st.x_min, st.x_max, xcond);
    ImPlot::SetupAxisLinks(ImAxis_X1, &st.x_min, &st.x_max);
    ImPlot::SetupAxis(ImAxis_Y1, "KL (nats) / relative error", yflags);
    ImPlot::SetupAxis(ImAxis_Y2, "top-1 agreement", ImPlotAxisFlags_Opposite | ImPlotAxisFlags_Lock);
    ImPlot::SetupAxisLimits(ImAxis_Y2, -0.05, 1.05, ImPlotCond_Always);
    plot_series("next-token KL(full || compressed)", kl, ImAxis_Y1);
    plot_series("mean attention-output error (teacher forced)", attn_err, ImAxis_Y1);
    plot_series("top-1 agreement, running mean", top1_running, ImAxis_Y2);
    if (kl.empty()) plot_note(("KL / top-1: " + (snap.fidelity_why_not.empty() ? std::string("no step compared yet") : snap.fidelity_why_not)).c_str());
    hover_values({{"KL nats", &kl}, {"top-1 agrees", &top1}, {"top-1 running", &top1_running}, {"attn error", &attn_err}}, "%s: %.4g");
    ImPlot::EndPlot();
  }
  ImGui::End();
}

}  // namespace skv::studio
