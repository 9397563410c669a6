#include "probes/probe.h"

#include "probes/cupti_counters.h"
#include "probes/cupti_timeline.h"
#include "probes/probe_error.h"

namespace skv::probes {

const char* level_name(Level level) {
  switch (level) {
    case Level::off: return "off";
    case Level::cpu: return "cpu";
    case Level::timeline: return "timeline";
    case Level::counters: return "counters";
  }
  return "unknown";
}

Level parse_level(std::string_view name) {
  for (Level l : {Level::off, Level::cpu, Level::timeline, Level::counters}) {
    if (name == level_name(l)) return l;
  }
  throw ProbeError("unknown probe level '" + std::string(name) + "'; use off, cpu, timeline or counters");
}

struct Probe::Gpu {
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  std::shared_ptr<const CuptiApi> api;
  CUpti_SubscriberHandle subscriber = nullptr;
  std::unique_ptr<CuptiTimeline> timeline;
  std::unique_ptr<CuptiCounters> counters;
  std::unique_ptr<PmSampler> pm;
#endif
};

namespace {
#if SKV_PROBES_HAVE_CUPTI_HEADERS
void CUPTIAPI ignore_callback(void*, CUpti_CallbackDomain, CUpti_CallbackId, const void*) {}
#endif
}  // namespace

Probe::Probe(ProbeOptions options) : options_(std::move(options)), stream_(options_.capacity), gpu_(std::make_unique<Gpu>()) {
  if (options_.counter_range_depth < 1) {
    throw ProbeError("counter_range_depth must be >= 1 (1 = one counter range per decode step)");
  }
}

Probe::~Probe() { stop(); }

void Probe::report(StatusLevel level, std::string_view message) {
  StatusRecord s;
  s.level = level;
  s.message.assign(message);
  stream_.try_push(s);
}

Level Probe::start(Level requested) {
  stop();
  std::lock_guard<std::mutex> lock(gpu_mu_);
  Level achieved = requested;
  if (requested >= Level::timeline) {
#if !SKV_PROBES_HAVE_CUPTI_HEADERS
    report(StatusLevel::warning, "this build has no CUPTI headers (configure with the CUDA toolkit); GPU probes are off");
    achieved = Level::cpu;
#else
    Gpu& g = *gpu_;
    if (options_.api_override) {
      g.api = options_.api_override;
    } else {
      LoadedLibraries lib = load_cupti_library(options_.libraries);
      if (!lib.api) report(StatusLevel::error, lib.error);
      g.api = lib.api;
    }
    if (!g.api) {
      achieved = Level::cpu;
    } else {
      int count = 0;
      CUresult cr = g.api->cuInit(0);
      if (cr == CUDA_SUCCESS) cr = g.api->cuDeviceGetCount(&count);
      if (cr != CUDA_SUCCESS || count == 0) {
        report(StatusLevel::error, cr != CUDA_SUCCESS ? describe_cuda_result(cr, "cuInit")
                                                      : "no CUDA GPU found; GPU probes are off");
        achieved = Level::cpu;
      }
    }
    if (achieved >= Level::timeline) {
      // A second CUPTI client (Nsight, torch.profiler's kineto) shows up here as
      // CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED; holding the subscription also keeps one
      // from attaching while the probe runs.
      CUptiResult r = g.api->cuptiSubscribe(&g.subscriber, &ignore_callback, nullptr);
      if (r != CUPTI_SUCCESS) {
        g.subscriber = nullptr;
        report(StatusLevel::error, describe_cupti_result(*g.api, r, "CUPTI subscription"));
        achieved = Level::cpu;
      }
    }
    if (achieved >= Level::timeline) {
      g.timeline = std::make_unique<CuptiTimeline>(g.api, &stream_);
      if (std::string err = g.timeline->start(); !err.empty()) {
        report(StatusLevel::error, err);
        g.timeline.reset();
        achieved = Level::cpu;
      } else if (!g.timeline->correlation_note().empty()) {
        report(StatusLevel::warning, g.timeline->correlation_note());
      }
    }
    if (achieved == Level::counters) {
      g.counters = std::make_unique<CuptiCounters>(g.api, &stream_, options_.counter_max_ranges);
      std::vector<std::string> notes;
      std::string err = g.counters->start(&notes);
      for (const auto& n : notes) report(StatusLevel::info, n);
      if (!err.empty()) {
        report(StatusLevel::warning, err + "; falling back to the kernel timeline");
        g.counters->stop();
        g.counters.reset();
        achieved = Level::timeline;
      }
    }
    if (achieved >= Level::timeline && options_.pm_sampling) {
      g.pm = std::make_unique<PmSampler>(g.api, &stream_, options_.pm);
      std::vector<std::string> notes;
      std::string err = g.pm->start(&notes);
      for (const auto& n : notes) report(StatusLevel::info, n);
      if (!err.empty()) {
        report(StatusLevel::warning, err + "; no DRAM throughput series");
        g.pm.reset();
      }
    }
    if (achieved < Level::timeline) release_gpu();
#endif
  }
  std::string msg = std::string("probe level ") + level_name(achieved);
  if (achieved != requested) msg += std::string(" (asked for ") + level_name(requested) + ")";
  report(achieved == requested ? StatusLevel::info : StatusLevel::warning, msg);
  level_.store(achieved, std::memory_order_release);
  return achieved;
}

void Probe::release_gpu() {
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  Gpu& g = *gpu_;
  if (g.pm) {
    g.pm->stop();
    g.pm.reset();
  }
  if (g.counters) {
    g.counters->stop();
    g.counters.reset();
  }
  if (g.timeline) {
    g.timeline->stop();
    g.timeline.reset();
  }
  if (g.subscriber && g.api) g.api->cuptiUnsubscribe(g.subscriber);
  g.subscriber = nullptr;
  g.api.reset();
#endif
}

void Probe::stop() {
  if (level_.load(std::memory_order_relaxed) == Level::off) return;
  level_.store(Level::off, std::memory_order_release);
  ranges_.clear();
  std::lock_guard<std::mutex> lock(gpu_mu_);
  release_gpu();
}

void Probe::degrade_counters(const std::string& why) {
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  report(StatusLevel::warning, "counters stopped: " + why + "; continuing with the kernel timeline");
  if (gpu_->counters) {
    auto c = std::move(gpu_->counters);
    c->stop();
  }
  if (level() == Level::counters) level_.store(Level::timeline, std::memory_order_release);
#else
  (void)why;
#endif
}

void Probe::push_range(std::string_view name, std::int64_t step, std::int32_t layer) {
  const Level lv = level();
  if (lv == Level::off) return;
  OpenRange r;
  if (!ranges_.empty()) {
    const OpenRange& parent = ranges_.back();
    r.name.reserve(parent.name.size() + 1 + name.size());
    r.name.append(parent.name).append("/").append(name);
    if (step == kNoStep) step = parent.step;
    if (layer == kNoLayer) layer = parent.layer;
  } else {
    r.name.assign(name);
  }
  r.step = step;
  r.layer = layer;
  r.counted = false;
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  if (lv >= Level::timeline && gpu_->timeline) gpu_->timeline->push_correlation(step, layer);
  if (lv == Level::counters && gpu_->counters &&
      static_cast<int>(ranges_.size()) + 1 == options_.counter_range_depth) {
    if (std::string err = gpu_->counters->push_range(r.name, step, layer); err.empty()) {
      r.counted = true;
    } else {
      degrade_counters(err);
    }
  }
#endif
  r.t0 = std::chrono::steady_clock::now();
  ranges_.push_back(std::move(r));
}

void Probe::pop_range() {
  const Level lv = level();
  if (lv == Level::off || ranges_.empty()) return;
  const auto t1 = std::chrono::steady_clock::now();
  OpenRange r = std::move(ranges_.back());
  ranges_.pop_back();
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  if (r.counted && gpu_->counters) {
    if (std::string err = gpu_->counters->pop_range(); !err.empty()) degrade_counters(err);
  }
  if (lv >= Level::timeline && gpu_->timeline) gpu_->timeline->pop_correlation();
#endif
  CpuTimingRecord c;
  c.step = r.step;
  c.what.assign(r.name);
  c.ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - r.t0).count());
  stream_.try_push(c);
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  if (ranges_.empty()) {
    // End of an outermost range (a step): read counters back once enough ranges are waiting
    // (each read-back synchronizes the GPU), and flush the timeline if asked to every step.
    if (gpu_->counters && gpu_->counters->ranges_pending() >= options_.counter_collect_every) {
      if (std::string err = gpu_->counters->collect(); !err.empty()) degrade_counters(err);
    }
    const bool period_due = options_.flush_period.count() > 0 && t1 - last_flush_ >= options_.flush_period;
    if (options_.flush_every_step || period_due) {
      last_flush_ = t1;
      flush();
    }
  }
#endif
}

void Probe::begin_step(std::int64_t step) {
  if (level() == Level::off) return;
  push_range("step " + std::to_string(step), step, kNoLayer);
}

void Probe::end_step() { pop_range(); }

void Probe::record_modeled_bytes(std::int64_t step, std::int32_t layer, std::string_view kernel, std::uint64_t bytes) {
  if (level() == Level::off) return;
  ModeledBytesRecord m;
  m.step = step;
  m.layer = layer;
  m.kernel.assign(kernel);
  m.modeled_bytes = ModeledBytes(bytes);
  stream_.try_push(m);
}

void Probe::record_cpu_timing(std::int64_t step, std::string_view what, std::uint64_t ns) {
  if (level() == Level::off) return;
  CpuTimingRecord c;
  c.step = step;
  c.what.assign(what);
  c.ns = ns;
  stream_.try_push(c);
}

void Probe::flush() {
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  std::lock_guard<std::mutex> lock(gpu_mu_);
  if (gpu_->timeline) gpu_->timeline->flush();
  if (gpu_->pm) {
    if (std::string err = gpu_->pm->collect(); !err.empty()) {
      report(StatusLevel::warning, err + "; PM sampling stopped");
      gpu_->pm->stop();
      gpu_->pm.reset();
    }
  }
#endif
}

}  // namespace skv::probes
