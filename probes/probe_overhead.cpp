#include "probes/probe_overhead.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "probes/probe_error.h"

namespace skv::probes {

namespace {

double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> time_steps(Probe* probe, int steps, int warmup, std::int64_t first_step,
                               const std::function<void(std::int64_t)>& step_fn) {
  std::vector<double> ns;
  ns.reserve(static_cast<std::size_t>(steps));
  for (int i = 0; i < warmup + steps; ++i) {
    const std::int64_t step = first_step + i;
    const auto t0 = std::chrono::steady_clock::now();
    if (probe) probe->begin_step(step);
    step_fn(step);
    if (probe) probe->end_step();
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= warmup) ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  return ns;
}

}  // namespace

OverheadReport measure_overhead(Probe& probe, Level level, int steps, const std::function<void(std::int64_t)>& step_fn,
                                int warmup) {
  if (steps < 1) throw ProbeError("measure_overhead needs at least one step");
  OverheadReport r;
  r.requested = level;
  r.steps = steps;
  probe.stop();
  // Off: the same begin/end calls, which return after one relaxed load.
  const std::vector<double> off = time_steps(&probe, steps, warmup, 0, step_fn);
  r.achieved = probe.start(level);
  const std::vector<double> on = time_steps(&probe, steps, warmup, warmup + steps, step_fn);
  probe.stop();
  r.ns_per_step_off = median(off);
  r.ns_per_step_on = median(on);
  r.mean_ns_per_step_off = mean(off);
  r.mean_ns_per_step_on = mean(on);
  r.mean_overhead_pct =
      r.mean_ns_per_step_off > 0 ? 100.0 * (r.mean_ns_per_step_on - r.mean_ns_per_step_off) / r.mean_ns_per_step_off : 0.0;
  r.overhead_ns_per_step = r.ns_per_step_on - r.ns_per_step_off;
  r.overhead_pct = r.ns_per_step_off > 0 ? 100.0 * r.overhead_ns_per_step / r.ns_per_step_off : 0.0;
  return r;
}

std::string OverheadReport::to_json() const {
  char buf[600];
  std::snprintf(buf, sizeof(buf),
                "{\"requested\":\"%s\",\"achieved\":\"%s\",\"steps\":%d,\"ns_per_step_off\":%.1f,"
                "\"ns_per_step_on\":%.1f,\"overhead_ns_per_step\":%.1f,\"overhead_pct\":%.3f,"
                "\"mean_ns_per_step_off\":%.1f,\"mean_ns_per_step_on\":%.1f,\"mean_overhead_pct\":%.3f}",
                level_name(requested), level_name(achieved), steps, ns_per_step_off, ns_per_step_on,
                overhead_ns_per_step, overhead_pct, mean_ns_per_step_off, mean_ns_per_step_on, mean_overhead_pct);
  return buf;
}

}  // namespace skv::probes
