// The probe: what the decoder calls while it runs, and what a worker drains.
//
// Levels, cheapest first:
//   off       nothing is recorded; every call is one relaxed atomic load and a return
//   cpu       host timings of each range (CpuTimingRecord) and caller-pushed modeled bytes
//   timeline  + every kernel's start/end from the CUPTI Activity API, tagged with step/layer
//   counters  + DRAM bytes read/written and GPU time per range from the CUPTI Range Profiler
// start(level) tries the requested level and, when something is missing (no GPU, no libcupti,
// no profiling permission, another profiler attached), pushes a StatusRecord saying why and
// falls back to the next lower level. Decoding never stops because of the probe.
// Orthogonal to the level: ProbeOptions::pm_sampling adds a DRAM throughput series (SampleRecord).
//
// Threads: push_range/pop_range/begin_step/end_step come from one thread (the decode thread).
// record_* may come from any thread. drain() from one consumer thread (ProbeWorker's).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "probes/cupti_library.h"
#include "probes/pm_sampling.h"
#include "probes/probe_records.h"
#include "probes/record_stream.h"

namespace skv::probes {

enum class Level : std::uint8_t { off = 0, cpu = 1, timeline = 2, counters = 3 };
const char* level_name(Level level);
Level parse_level(std::string_view name);  // throws ProbeError on an unknown name

struct ProbeOptions {
  std::size_t capacity = 1u << 14;  // records in the ring; a full ring drops (and counts) records
  LibraryNames libraries = LibraryNames::from_environment();
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  // Tests inject a fake table here; null means dlopen `libraries`.
  std::shared_ptr<const CuptiApi> api_override;
#endif
  // Which range depth the Range Profiler counts (1 = each step, 2 = each range inside a step).
  int counter_range_depth = 1;
  std::size_t counter_max_ranges = 256;  // ranges one counter image holds
  // Counters are read back (stop, sync, decode, restart: ~12 ms on an H100) once this many ranges
  // have finished, at the end of a step, and at stop(). 1 = every step (fresh but costly).
  std::size_t counter_collect_every = 64;
  // Force a CUPTI flush at the end of every step (fresh timeline, ~0.3 ms per step on an H100).
  bool flush_every_step = false;
  // Flush at the end of a step once this much time has passed since the last flush (0 = never
  // by itself). This keeps every CUPTI call on the decode thread, at a point where it launches
  // nothing: a periodic cuptiActivityFlushAll from another thread while the decode thread
  // launches kernels is what the Studio did until 2026-11-26, and GPU runs of it aborted with a
  // corrupted heap (docs/STUDIO.md). Use this with ProbeWorker::start(period, /*flush=*/false).
  std::chrono::milliseconds flush_period{0};
  // PM sampling (pm_sampling.h): a DRAM read/write throughput series (SampleRecord) while the
  // probe runs at timeline or counters. Decoded on flush() (ProbeWorker's period). Unsupported
  // -> a StatusRecord, and the level is kept.
  bool pm_sampling = false;
  PmSamplingOptions pm;
};

class Probe {
 public:
  explicit Probe(ProbeOptions options = {});
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // Returns the level actually reached (<= requested). Restarts if already running.
  Level start(Level requested);
  void stop();  // flushes GPU records into the stream, then goes to off
  Level level() const noexcept { return level_.load(std::memory_order_relaxed); }
  bool enabled() const noexcept { return level() != Level::off; }

  // NVTX-style ranges. step/layer default to the enclosing range's. Kernels launched inside
  // carry them (timeline); ranges at counter_range_depth get hardware counters (counters).
  void push_range(std::string_view name, std::int64_t step = kNoStep, std::int32_t layer = kNoLayer);
  void pop_range();
  // begin_step(s) == push_range("step s", s); end_step() pops it, and at timeline/counters
  // hands the step's GPU records to the stream.
  void begin_step(std::int64_t step);
  void end_step();

  // Caller-side numbers. Modeled bytes are stored as ModeledBytesRecord, never as measured.
  void record_modeled_bytes(std::int64_t step, std::int32_t layer, std::string_view kernel, std::uint64_t bytes);
  void record_cpu_timing(std::int64_t step, std::string_view what, std::uint64_t ns);
  void report(StatusLevel level, std::string_view message);  // always recorded, even when off

  // Makes CUPTI hand over buffered kernel records (blocks until it has) and decodes PM samples.
  // Any thread, but best the decode thread between steps (see ProbeOptions::flush_period); call
  // it before the decoder idles (a pause) so the last step's kernels reach the stream.
  void flush();

  // Consumer side.
  std::size_t drain(std::vector<Record>& out, std::size_t max_records = SIZE_MAX) { return stream_.drain(out, max_records); }
  std::uint64_t dropped() const noexcept { return stream_.dropped(); }
  RecordStream& stream() noexcept { return stream_; }

 private:
  struct OpenRange {
    std::string name;  // full label, parents joined with '/'
    std::int64_t step;
    std::int32_t layer;
    std::chrono::steady_clock::time_point t0;
    bool counted;  // forwarded to the Range Profiler
  };
  void degrade_counters(const std::string& why);
  void release_gpu();

  ProbeOptions options_;
  RecordStream stream_;
  std::atomic<Level> level_{Level::off};
  std::vector<OpenRange> ranges_;
  std::chrono::steady_clock::time_point last_flush_{};  // decode thread only (flush_period)
  std::mutex gpu_mu_;  // guards the GPU backends' lifetime against flush() from another thread
  struct Gpu;
  std::unique_ptr<Gpu> gpu_;
};

}  // namespace skv::probes
