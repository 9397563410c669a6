#include "app/studio/frame_stats.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace skv::studio {

const char* frame_part_name(int i) {
  static const char* names[kFrameParts] = {"host (menu, banners, dock, status)", "Run", "Policy", "Live plots", "Tier map",
                                           "Attention error", "Tokens", "Kernels", "Sessions", "Messages", "shortcuts + actions"};
  return i >= 0 && i < kFrameParts ? names[i] : "?";
}

void FrameStatsLog::add(const FrameStats& f) {
  if (frames.size() >= cap && cap > 1) frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(cap / 2));
  frames.push_back(f);
}

FrameStats FrameStatsLog::mean_of_last(size_t n) const {
  FrameStats m;
  const size_t k = std::min(n, frames.size());
  if (k == 0) return m;
  double v = 0, i = 0, dl = 0, dc = 0;
  for (size_t j = frames.size() - k; j < frames.size(); ++j) {
    const FrameStats& f = frames[j];
    m.snapshot_ms += f.snapshot_ms;
    m.new_frame_ms += f.new_frame_ms;
    for (int p = 0; p < kFrameParts; ++p) m.part_ms[p] += f.part_ms[p];
    m.ui_ms += f.ui_ms;
    m.render_ms += f.render_ms;
    m.submit_ms += f.submit_ms;
    m.finish_ms += f.finish_ms;
    m.readback_ms += f.readback_ms;
    m.swap_ms += f.swap_ms;
    m.frame_ms += f.frame_ms;
    v += static_cast<double>(f.vertices);
    i += static_cast<double>(f.indices);
    dl += static_cast<double>(f.draw_lists);
    dc += static_cast<double>(f.draw_cmds);
  }
  const double d = static_cast<double>(k);
  m.snapshot_ms /= d;
  m.new_frame_ms /= d;
  for (auto& p : m.part_ms) p /= d;
  m.ui_ms /= d;
  m.render_ms /= d;
  m.submit_ms /= d;
  m.finish_ms /= d;
  m.readback_ms /= d;
  m.swap_ms /= d;
  m.frame_ms /= d;
  m.vertices = std::llround(v / d);
  m.indices = std::llround(i / d);
  m.draw_lists = std::llround(dl / d);
  m.draw_cmds = std::llround(dc / d);
  return m;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

nlohmann::json FrameStatsLog::summary(bool decoding_only) const {
  std::vector<const FrameStats*> fs;
  for (const auto& f : frames)
    if (!decoding_only || f.decoding) fs.push_back(&f);
  auto stat = [&](const std::function<double(const FrameStats&)>& get) {
    std::vector<double> v;
    v.reserve(fs.size());
    double sum = 0;
    for (const auto* f : fs) v.push_back(get(*f)), sum += get(*f);
    nlohmann::json j;
    if (v.empty()) return j;
    j["p50"] = quantile(v, 0.5);
    j["p95"] = quantile(v, 0.95);
    j["max"] = *std::max_element(v.begin(), v.end());
    j["mean"] = sum / static_cast<double>(v.size());
    return j;
  };
  nlohmann::json j;
  j["frames"] = fs.size();
  j["snapshot_ms"] = stat([](const FrameStats& f) { return f.snapshot_ms; });
  j["new_frame_ms"] = stat([](const FrameStats& f) { return f.new_frame_ms; });
  j["ui_ms"] = stat([](const FrameStats& f) { return f.ui_ms; });
  j["render_ms"] = stat([](const FrameStats& f) { return f.render_ms; });
  j["ui_plus_render_ms"] = stat([](const FrameStats& f) { return f.ui_ms + f.render_ms; });
  j["submit_ms"] = stat([](const FrameStats& f) { return f.submit_ms; });
  j["finish_ms"] = stat([](const FrameStats& f) { return f.finish_ms; });
  j["readback_ms"] = stat([](const FrameStats& f) { return f.readback_ms; });
  j["swap_ms"] = stat([](const FrameStats& f) { return f.swap_ms; });
  j["frame_ms"] = stat([](const FrameStats& f) { return f.frame_ms; });
  j["vertices"] = stat([](const FrameStats& f) { return static_cast<double>(f.vertices); });
  j["indices"] = stat([](const FrameStats& f) { return static_cast<double>(f.indices); });
  j["draw_lists"] = stat([](const FrameStats& f) { return static_cast<double>(f.draw_lists); });
  j["draw_cmds"] = stat([](const FrameStats& f) { return static_cast<double>(f.draw_cmds); });
  nlohmann::json parts = nlohmann::json::object();
  for (int p = 0; p < kFrameParts; ++p) parts[frame_part_name(p)] = stat([p](const FrameStats& f) { return f.part_ms[p]; });
  j["parts_ms"] = parts;
  return j;
}

}  // namespace skv::studio
