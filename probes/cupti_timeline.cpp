#include "probes/cupti_timeline.h"

#include <cxxabi.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace skv::probes {

std::uint64_t pack_correlation(std::int64_t step, std::int32_t layer) {
  const std::uint64_t s = static_cast<std::uint64_t>(step + 1) & ((std::uint64_t{1} << 44) - 1);
  const std::uint64_t l = static_cast<std::uint64_t>(layer + 1) & 0xFFFFF;
  return (s << 20) | l;
}

void unpack_correlation(std::uint64_t id, std::int64_t* step, std::int32_t* layer) {
  *step = static_cast<std::int64_t>(id >> 20) - 1;
  *layer = static_cast<std::int32_t>(id & 0xFFFFF) - 1;
}

#if SKV_PROBES_HAVE_CUPTI_HEADERS

namespace {

constexpr std::size_t kBufferBytes = 1u << 20;  // 1 MiB: ~5k kernel records per buffer
constexpr std::size_t kBufferAlign = 8;          // CUPTI requires 8-byte aligned buffers
constexpr std::size_t kMaxPendingCorrelations = 1u << 20;
constexpr std::size_t kMaxPendingKernels = 1u << 16;

// CUPTI's buffer callbacks carry no user pointer; one timeline is active per process.
std::atomic<CuptiTimeline::Impl*> g_active{nullptr};

}  // namespace

struct CuptiTimeline::Impl {
  std::shared_ptr<const CuptiApi> api;
  RecordStream* out = nullptr;
  bool running = false;
  bool correlation_enabled = false;
  std::mutex mu;  // guards correlations (buffer callbacks may run on several CUPTI threads)
  std::unordered_map<std::uint32_t, std::uint64_t> correlations;  // CUPTI correlation -> packed id
  // Kernel records and correlation records come in different buffers (per-context vs global),
  // delivered in no fixed order; kernels wait here until their correlation record arrives or a
  // forced flush has delivered everything.
  std::vector<KernelRecord> pending;

  static void CUPTIAPI buffer_requested(std::uint8_t** buffer, std::size_t* size, std::size_t* max_records) {
    *buffer = static_cast<std::uint8_t*>(std::aligned_alloc(kBufferAlign, kBufferBytes));
    *size = *buffer ? kBufferBytes : 0;
    *max_records = 0;  // as many as fit
  }

  static void CUPTIAPI buffer_completed(CUcontext, std::uint32_t, std::uint8_t* buffer, std::size_t,
                                        std::size_t valid_size) {
    if (Impl* self = g_active.load(std::memory_order_acquire)) self->parse(buffer, valid_size);
    std::free(buffer);
  }

  void parse(std::uint8_t* buffer, std::size_t valid_size) {
    if (valid_size == 0) return;
    std::lock_guard<std::mutex> lock(mu);
    CUpti_Activity* rec = nullptr;
    while (api->cuptiActivityGetNextRecord(buffer, valid_size, &rec) == CUPTI_SUCCESS) {
      if (rec->kind == CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION) {
        const auto* ec = reinterpret_cast<const CUpti_ActivityExternalCorrelation*>(rec);
        if (ec->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) {
          if (correlations.size() > kMaxPendingCorrelations) correlations.clear();
          correlations[ec->correlationId] = ec->externalId;
        }
      } else if (rec->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || rec->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
        const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(rec);
        KernelRecord kr;
        set_name(kr, k->name);
        kr.start_ns = k->start;
        kr.end_ns = k->end;
        kr.grid = {k->gridX, k->gridY, k->gridZ};
        kr.block = {k->blockX, k->blockY, k->blockZ};
        kr.stream = k->streamId;
        kr.correlation_id = k->correlationId;
        pending.push_back(kr);
      }
    }
    resolve(/*emit_unresolved=*/!correlation_enabled || pending.size() > kMaxPendingKernels);
  }

  // Emits pending kernels whose correlation is known (all of them when emit_unresolved).
  // Caller holds mu.
  void resolve(bool emit_unresolved) {
    std::size_t keep = 0;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      KernelRecord& kr = pending[i];
      auto it = correlations.find(kr.correlation_id);
      if (it != correlations.end()) {
        unpack_correlation(it->second, &kr.step, &kr.layer);
        correlations.erase(it);
        out->try_push(kr);
      } else if (emit_unresolved) {
        out->try_push(kr);  // launched outside any range: step/layer stay kNoStep/kNoLayer
      } else {
        pending[keep++] = kr;
      }
    }
    pending.resize(keep);
  }

  static void set_name(KernelRecord& kr, const char* mangled) {
    if (!mangled) {
      kr.name.assign("<unnamed kernel>");
      return;
    }
    int status = 0;
    char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    kr.name.assign(status == 0 && demangled ? demangled : mangled);
    std::free(demangled);
  }
};

CuptiTimeline::CuptiTimeline(std::shared_ptr<const CuptiApi> api, RecordStream* out) : impl_(std::make_unique<Impl>()) {
  impl_->api = std::move(api);
  impl_->out = out;
}

CuptiTimeline::~CuptiTimeline() { stop(); }

std::string CuptiTimeline::start() {
  const CuptiApi& api = *impl_->api;
  Impl* expected = nullptr;
  if (!g_active.compare_exchange_strong(expected, impl_.get())) {
    return "another SKV probe already records a kernel timeline in this process; stop it first";
  }
  CUptiResult r = api.cuptiActivityRegisterCallbacks(&Impl::buffer_requested, &Impl::buffer_completed);
  if (r != CUPTI_SUCCESS) {
    g_active.store(nullptr);
    return describe_cupti_result(api, r, "CUPTI activity buffers (kernel timeline)");
  }
  r = api.cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  if (r != CUPTI_SUCCESS) {
    g_active.store(nullptr);
    return describe_cupti_result(api, r, "CUPTI kernel activity (kernel timeline)");
  }
  // Without correlation the timeline still works; kernels then carry no step/layer.
  // External correlation records are only written before CUDA API activity records, so the API
  // kinds must be on too (CUPTI guide, "External Correlation"): RUNTIME for cudaLaunchKernel,
  // DRIVER for cuLaunchKernel (Triton, JIT). Their own records are skipped when parsing.
  r = api.cuptiActivityEnable(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION);
  if (r == CUPTI_SUCCESS) r = api.cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME);
  if (r == CUPTI_SUCCESS) r = api.cuptiActivityEnable(CUPTI_ACTIVITY_KIND_DRIVER);
  impl_->correlation_enabled = r == CUPTI_SUCCESS;
  impl_->running = true;
  if (!impl_->correlation_enabled) {
    correlation_note_ = describe_cupti_result(api, r, "CUPTI external correlation") +
                        "; kernels will carry no step/layer";
  }
  return {};
}

void CuptiTimeline::stop() {
  if (!impl_->running) return;
  const CuptiApi& api = *impl_->api;
  api.cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  api.cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  api.cuptiActivityDisable(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION);
  api.cuptiActivityDisable(CUPTI_ACTIVITY_KIND_RUNTIME);
  api.cuptiActivityDisable(CUPTI_ACTIVITY_KIND_DRIVER);
  api.cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->resolve(/*emit_unresolved=*/true);
  }
  impl_->running = false;
  g_active.store(nullptr, std::memory_order_release);
}

void CuptiTimeline::flush() {
  if (!impl_->running) return;
  impl_->api->cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  // Every record launched before this point has been delivered: what is still unmatched was
  // launched outside any range.
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->resolve(/*emit_unresolved=*/true);
}

void CuptiTimeline::push_correlation(std::int64_t step, std::int32_t layer) {
  if (impl_->running && impl_->correlation_enabled) {
    impl_->api->cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0,
                                                       pack_correlation(step, layer));
  }
}

void CuptiTimeline::pop_correlation() {
  if (impl_->running && impl_->correlation_enabled) {
    std::uint64_t last = 0;
    impl_->api->cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last);
  }
}

#endif  // SKV_PROBES_HAVE_CUPTI_HEADERS

}  // namespace skv::probes
