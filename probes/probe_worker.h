// The consumer side: a worker drains the probe's stream into per-type histories and publishes
// immutable snapshots. A UI reads snapshot() (one mutex-guarded shared_ptr copy) and never waits
// on the decoder or on CUPTI.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "probes/probe.h"

namespace skv::probes {

struct ProbeSnapshot {
  std::vector<KernelRecord> kernels;
  std::vector<CounterRecord> counters;
  std::vector<SampleRecord> samples;
  std::vector<ModeledBytesRecord> modeled;
  std::vector<CpuTimingRecord> cpu;
  std::vector<StatusRecord> statuses;
  std::uint64_t dropped = 0;  // records the ring refused since the probe was made
  Level level = Level::off;
  std::uint64_t version = 0;  // increases with each published snapshot
};

class ProbeWorker {
 public:
  // Keeps at most max_per_kind of each record type (oldest go first).
  explicit ProbeWorker(Probe& probe, std::size_t max_per_kind = 100000);
  ~ProbeWorker();
  ProbeWorker(const ProbeWorker&) = delete;
  ProbeWorker& operator=(const ProbeWorker&) = delete;

  // Drains once and publishes if anything arrived. Returns how many records were drained.
  // Call from one thread only (or use start()).
  std::size_t poll();
  // Drains every period on its own thread. flush_probe: also call Probe::flush() there (CUPTI
  // calls from a second thread while the decode thread launches kernels; see
  // ProbeOptions::flush_period for the way that keeps them on the decode thread).
  void start(std::chrono::milliseconds period = std::chrono::milliseconds(50), bool flush_probe = true);
  void stop();

  std::shared_ptr<const ProbeSnapshot> snapshot() const;

  // Every drained batch is also handed to `sink` (on the draining thread, before the capped
  // histories trim it), so a consumer such as a session recorder keeps every record. Empty
  // function = none.
  void set_sink(std::function<void(const std::vector<Record>&)> sink);

 private:
  Probe& probe_;
  std::size_t max_per_kind_;
  std::vector<Record> batch_;
  std::mutex sink_mu_;
  std::function<void(const std::vector<Record>&)> sink_;
  ProbeSnapshot history_;
  std::uint64_t version_ = 0;
  mutable std::mutex mu_;
  std::shared_ptr<const ProbeSnapshot> published_;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace skv::probes
