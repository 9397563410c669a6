#include "probes/probe_worker.h"

namespace skv::probes {

namespace {
template <typename T>
void trim(std::vector<T>& v, std::size_t max) {
  if (v.size() > max) v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() - max));
}
}  // namespace

ProbeWorker::ProbeWorker(Probe& probe, std::size_t max_per_kind)
    : probe_(probe), max_per_kind_(max_per_kind), published_(std::make_shared<ProbeSnapshot>()) {}

ProbeWorker::~ProbeWorker() { stop(); }

void ProbeWorker::set_sink(std::function<void(const std::vector<Record>&)> sink) {
  std::lock_guard<std::mutex> lk(sink_mu_);
  sink_ = std::move(sink);
}

std::size_t ProbeWorker::poll() {
  batch_.clear();
  const std::size_t n = probe_.drain(batch_);
  if (n > 0) {
    std::lock_guard<std::mutex> lk(sink_mu_);
    if (sink_) sink_(batch_);
  }
  const bool level_changed = history_.level != probe_.level();
  if (n == 0 && !level_changed && history_.dropped == probe_.dropped()) return 0;
  for (const Record& r : batch_) {
    std::visit(
        [this](const auto& rec) {
          using T = std::decay_t<decltype(rec)>;
          if constexpr (std::is_same_v<T, KernelRecord>) history_.kernels.push_back(rec);
          else if constexpr (std::is_same_v<T, CounterRecord>) history_.counters.push_back(rec);
          else if constexpr (std::is_same_v<T, SampleRecord>) history_.samples.push_back(rec);
          else if constexpr (std::is_same_v<T, ModeledBytesRecord>) history_.modeled.push_back(rec);
          else if constexpr (std::is_same_v<T, CpuTimingRecord>) history_.cpu.push_back(rec);
          else history_.statuses.push_back(rec);
        },
        r);
  }
  trim(history_.kernels, max_per_kind_);
  trim(history_.counters, max_per_kind_);
  trim(history_.samples, max_per_kind_);
  trim(history_.modeled, max_per_kind_);
  trim(history_.cpu, max_per_kind_);
  trim(history_.statuses, max_per_kind_);
  history_.dropped = probe_.dropped();
  history_.level = probe_.level();
  history_.version = ++version_;
  auto snap = std::make_shared<const ProbeSnapshot>(history_);
  std::lock_guard<std::mutex> lock(mu_);
  published_ = std::move(snap);
  return n;
}

void ProbeWorker::start(std::chrono::milliseconds period, bool flush_probe) {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this, period, flush_probe] {
    while (running_.load(std::memory_order_relaxed)) {
      if (flush_probe) probe_.flush();  // CUPTI hands over kernel records here, off the decode thread
      poll();
      std::this_thread::sleep_for(period);
    }
    if (flush_probe) probe_.flush();
    poll();
  });
}

void ProbeWorker::stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const ProbeSnapshot> ProbeWorker::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return published_;
}

}  // namespace skv::probes
