// What a probe level costs: time N steps of the caller's work with the probe off, then at the
// level, and report the difference. The caller's step function does the real work (a decode
// step); the helper wraps each step in begin_step/end_step, so the number includes range
// bookkeeping, CUPTI correlation calls, per-step flushes and counter read-back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "probes/probe.h"

namespace skv::probes {

struct OverheadReport {
  Level requested = Level::off;
  Level achieved = Level::off;
  int steps = 0;
  double ns_per_step_off = 0.0;    // median over steps, probe off
  double ns_per_step_on = 0.0;     // median over steps, probe at `achieved`
  double overhead_ns_per_step = 0.0;
  double overhead_pct = 0.0;
  // Means include periodic costs a median hides (counter read-back every N steps).
  double mean_ns_per_step_off = 0.0;
  double mean_ns_per_step_on = 0.0;
  double mean_overhead_pct = 0.0;
  std::string to_json() const;
};

// Runs warmup + steps calls of step_fn(step) with the probe off, then the same at `level`.
// The probe is stopped afterwards; records produced during the run stay in its stream.
OverheadReport measure_overhead(Probe& probe, Level level, int steps, const std::function<void(std::int64_t)>& step_fn,
                                int warmup = 3);

}  // namespace skv::probes
