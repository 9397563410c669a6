// DRAM bytes and GPU time per user range, from the CUPTI Range Profiler (cupti_range_profiler.h,
// CUDA 13) in user-range + user-replay mode.
//
// A decode step cannot be replayed, so only metric sets that fit one hardware pass are used:
// start() drops the optional metrics (L2 hit rate, then GPU time) until one pass suffices and
// fails with a message if even the DRAM byte counters do not fit.
//
// The Range Profiler counts one nesting level per pass, so the probe forwards ranges of a single
// depth (ProbeOptions::counter_range_depth) and names them with their parents ("step 12/attn L3").
// collect() (at the end of each outermost range) stops the profiler, synchronizes the context,
// decodes, turns each range into a CounterRecord and starts again with a fresh counter image.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "probes/cupti_library.h"
#include "probes/record_stream.h"

namespace skv::probes {

inline constexpr const char* kMetricDramRead = "dram__bytes_read.sum";
inline constexpr const char* kMetricDramWrite = "dram__bytes_write.sum";
inline constexpr const char* kMetricGpuTime = "gpu__time_duration.sum";
inline constexpr const char* kMetricL2HitRate = "lts__t_sector_hit_rate.pct";

#if SKV_PROBES_HAVE_CUPTI_HEADERS

class CuptiCounters {
 public:
  CuptiCounters(std::shared_ptr<const CuptiApi> api, RecordStream* out, std::size_t max_ranges);
  ~CuptiCounters();
  CuptiCounters(const CuptiCounters&) = delete;
  CuptiCounters& operator=(const CuptiCounters&) = delete;

  // Empty on success, else a one-line reason. Notes (metrics dropped) go to *notes.
  std::string start(std::vector<std::string>* notes);
  void stop();

  // Profiled range; name is the full "step 12/attn L3" label.
  std::string push_range(const std::string& name, std::int64_t step, std::int32_t layer);
  std::string pop_range();
  // Emits a CounterRecord per finished range and restarts collection. Empty on success.
  std::string collect();

  const std::vector<std::string>& metrics() const;
  std::size_t ranges_pending() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

#endif

}  // namespace skv::probes
