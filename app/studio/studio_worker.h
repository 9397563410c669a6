#pragma once
// StudioWorker: owns the model, the KV backend and the generator on its own thread. The GUI
// sends commands (start, pause, resume, single-step, stop) that return at once, and reads
// snapshot(): one mutex-guarded shared_ptr copy of an immutable StudioSnapshot, published by
// the worker after each step (Tracy's habit: the UI never waits on the decoder).
//
// No libtorch in this header: the GUI's files include it.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "app/studio/studio_types.h"

namespace skv::studio {

class StudioWorker {
 public:
  // probe_flush_on_worker: the probe worker thread flushes CUPTI (the pre-2026-11-26 way, for
  // comparison runs of skv_studio_frames); default: the decode thread does, between steps.
  explicit StudioWorker(bool probe_flush_on_worker = false);
  ~StudioWorker();  // stops the run and joins (waits for at most the current forward pass)
  StudioWorker(const StudioWorker&) = delete;
  StudioWorker& operator=(const StudioWorker&) = delete;

  // Starts a run (stopping the current one first). paused=true: prefill, one token, then pause.
  void start(const RunSettings& run, const PolicySettings& policy, bool paused = false);
  void pause();
  void resume();
  void single_step();  // when paused: one more token; when idle: start paused
  void stop();         // ends the run at the next cancellation point; results stay
  // Which head the tier-map drill-down follows (layer, KV head), and which one the attention-error
  // distribution shows (layer, query head). Takes effect at the next step.
  void set_focus(int tier_layer, int tier_kv_head, int error_layer, int error_q_head);

  std::shared_ptr<const StudioSnapshot> snapshot() const;
  // Kernel records, counters, modeled bytes and the probe's status lines (its own worker).
  std::shared_ptr<const probes::ProbeSnapshot> probe_snapshot() const;
  bool busy() const;  // a run is in progress (loading, prefill, decoding or paused)

 private:
  struct Impl;  // libtorch lives here
  std::unique_ptr<Impl> impl_;
};

}  // namespace skv::studio
