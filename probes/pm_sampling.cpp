#include "probes/pm_sampling.h"

#include <dlfcn.h>

#include <cstring>

namespace skv::probes {

#if SKV_PROBES_HAVE_CUPTI_HEADERS

namespace {

template <typename T>
T params() {
  T p;
  std::memset(&p, 0, sizeof(p));
  return p;
}

#define SKV_PM_FUNCTIONS(X)                        \
  X(cuptiPmSamplingGetCounterAvailability)         \
  X(cuptiPmSamplingEnable)                         \
  X(cuptiPmSamplingDisable)                        \
  X(cuptiPmSamplingSetConfig)                      \
  X(cuptiPmSamplingStart)                          \
  X(cuptiPmSamplingStop)                           \
  X(cuptiPmSamplingDecodeData)                     \
  X(cuptiPmSamplingGetCounterDataSize)             \
  X(cuptiPmSamplingCounterDataImageInitialize)     \
  X(cuptiPmSamplingGetCounterDataInfo)             \
  X(cuptiPmSamplingCounterDataGetSampleInfo)

struct PmApi {
#define SKV_DECLARE_FN(name) decltype(&::name) name = nullptr;
  SKV_PM_FUNCTIONS(SKV_DECLARE_FN)
#undef SKV_DECLARE_FN
};

// Metric sets, first that the chip accepts wins. `.sum` gives bytes per sample (divided by the
// sample's own duration); `.sum.per_second` gives the rate directly.
struct MetricSet {
  const char* read;
  const char* write;
  bool per_second;
};
constexpr MetricSet kMetricSets[] = {
    {"dram__bytes_read.sum", "dram__bytes_write.sum", false},
    {"dram__bytes_read.sum.per_second", "dram__bytes_write.sum.per_second", true},
};

}  // namespace

struct PmSampler::Impl {
  std::shared_ptr<const CuptiApi> api;
  RecordStream* out = nullptr;
  PmSamplingOptions options;
  PmApi pm;
  std::size_t device_index = 0;
  bool profiler_initialized = false;
  CUpti_Profiler_Host_Object* host = nullptr;
  CUpti_PmSampling_Object* object = nullptr;
  bool running = false;
  MetricSet metrics{};
  std::vector<const char*> metric_ptrs;
  std::vector<std::uint8_t> availability, config, counter_data;
  std::size_t done_in_image = 0;  // samples of the current counter image already emitted
  std::uint64_t emitted = 0;
  bool overflow_reported = false;

  std::string fail(CUptiResult r, const std::string& what) const { return describe_cupti_result(*api, r, what); }

  std::string load_functions() {
    if (api->cupti_library.empty()) return "PM sampling needs the real libcupti (none loaded)";
    void* h = dlopen(api->cupti_library.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!h) return "PM sampling: " + api->cupti_library + " is not loaded";
    std::string missing;
#define SKV_LOAD(name)                                                  \
  pm.name = reinterpret_cast<decltype(pm.name)>(dlsym(h, #name));       \
  if (!pm.name) missing += std::string(missing.empty() ? "" : ", ") + #name;
    SKV_PM_FUNCTIONS(SKV_LOAD)
#undef SKV_LOAD
    if (!missing.empty()) return api->cupti_library + " has no PM sampling (missing " + missing + "); use CUDA 13's CUPTI";
    return {};
  }

  void destroy_host() {
    if (!host) return;
    auto p = params<CUpti_Profiler_Host_Deinitialize_Params>();
    p.structSize = CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE;
    p.pHostObject = host;
    api->cuptiProfilerHostDeinitialize(&p);
    host = nullptr;
  }

  std::string build_config(const char* chip, const MetricSet& set) {
    destroy_host();
    auto init = params<CUpti_Profiler_Host_Initialize_Params>();
    init.structSize = CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE;
    init.profilerType = CUPTI_PROFILER_TYPE_PM_SAMPLING;
    init.pChipName = chip;
    init.pCounterAvailabilityImage = availability.data();
    if (CUptiResult r = api->cuptiProfilerHostInitialize(&init); r != CUPTI_SUCCESS) return fail(r, "PM sampling host");
    host = init.pHostObject;
    const char* names[2] = {set.read, set.write};
    auto add = params<CUpti_Profiler_Host_ConfigAddMetrics_Params>();
    add.structSize = CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE;
    add.pHostObject = host;
    add.ppMetricNames = names;
    add.numMetrics = 2;
    if (CUptiResult r = api->cuptiProfilerHostConfigAddMetrics(&add); r != CUPTI_SUCCESS)
      return fail(r, std::string("PM sampling metrics ") + set.read);
    auto size = params<CUpti_Profiler_Host_GetConfigImageSize_Params>();
    size.structSize = CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE;
    size.pHostObject = host;
    if (CUptiResult r = api->cuptiProfilerHostGetConfigImageSize(&size); r != CUPTI_SUCCESS) return fail(r, "PM sampling config size");
    config.assign(size.configImageSize, 0);
    auto image = params<CUpti_Profiler_Host_GetConfigImage_Params>();
    image.structSize = CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE;
    image.pHostObject = host;
    image.configImageSize = config.size();
    image.pConfigImage = config.data();
    if (CUptiResult r = api->cuptiProfilerHostGetConfigImage(&image); r != CUPTI_SUCCESS) return fail(r, "PM sampling config image");
    return {};
  }

  std::string init_counter_data() {
    auto init = params<CUpti_PmSampling_CounterDataImage_Initialize_Params>();
    init.structSize = CUpti_PmSampling_CounterDataImage_Initialize_Params_STRUCT_SIZE;
    init.pPmSamplingObject = object;
    init.counterDataSize = counter_data.size();
    init.pCounterData = counter_data.data();
    if (CUptiResult r = pm.cuptiPmSamplingCounterDataImageInitialize(&init); r != CUPTI_SUCCESS)
      return fail(r, "PM sampling counter image");
    done_in_image = 0;
    return {};
  }

  // Emits samples [done_in_image, completed) of the current image.
  std::string emit_completed() {
    auto info = params<CUpti_PmSampling_GetCounterDataInfo_Params>();
    info.structSize = CUpti_PmSampling_GetCounterDataInfo_Params_STRUCT_SIZE;
    info.pCounterDataImage = counter_data.data();
    info.counterDataImageSize = counter_data.size();
    if (CUptiResult r = pm.cuptiPmSamplingGetCounterDataInfo(&info); r != CUPTI_SUCCESS) return fail(r, "PM sampling info");
    double values[2] = {0, 0};
    for (std::size_t i = done_in_image; i < info.numCompletedSamples; ++i) {
      auto si = params<CUpti_PmSampling_CounterData_GetSampleInfo_Params>();
      si.structSize = CUpti_PmSampling_CounterData_GetSampleInfo_Params_STRUCT_SIZE;
      si.pPmSamplingObject = object;
      si.pCounterDataImage = counter_data.data();
      si.counterDataImageSize = counter_data.size();
      si.sampleIndex = i;
      if (CUptiResult r = pm.cuptiPmSamplingCounterDataGetSampleInfo(&si); r != CUPTI_SUCCESS) return fail(r, "PM sample info");
      auto eval = params<CUpti_Profiler_Host_EvaluateToGpuValues_Params>();
      eval.structSize = CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE;
      eval.pHostObject = host;
      eval.pCounterDataImage = counter_data.data();
      eval.counterDataImageSize = counter_data.size();
      eval.rangeIndex = i;
      eval.ppMetricNames = metric_ptrs.data();
      eval.numMetrics = metric_ptrs.size();
      eval.pMetricValues = values;
      if (CUptiResult r = api->cuptiProfilerHostEvaluateToGpuValues(&eval); r != CUPTI_SUCCESS) return fail(r, "PM sample evaluate");
      SampleRecord s;
      s.t_ns = si.startTimestamp;
      const double dt = si.endTimestamp > si.startTimestamp ? double(si.endTimestamp - si.startTimestamp) * 1e-9 : 0.0;
      const double r = values[0] < 0 ? 0.0 : values[0], w = values[1] < 0 ? 0.0 : values[1];
      s.dram_read_bytes_per_s = metrics.per_second ? r : (dt > 0 ? r / dt : 0.0);
      s.dram_write_bytes_per_s = metrics.per_second ? w : (dt > 0 ? w / dt : 0.0);
      out->try_push(s);
      ++emitted;
    }
    done_in_image = info.numCompletedSamples;
    return {};
  }
};

PmSampler::PmSampler(std::shared_ptr<const CuptiApi> api, RecordStream* out, PmSamplingOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->api = std::move(api);
  impl_->out = out;
  impl_->options = options;
}

PmSampler::~PmSampler() { stop(); }

std::uint64_t PmSampler::samples_emitted() const { return impl_->emitted; }

std::string PmSampler::start(std::vector<std::string>* notes) {
  Impl& s = *impl_;
  auto failed = [&](std::string why) {
    stop();
    return why;
  };
  if (std::string e = s.load_functions(); !e.empty()) return e;
  const CuptiApi& api = *s.api;
  if (CUresult r = api.cuInit(0); r != CUDA_SUCCESS) return describe_cuda_result(r, "cuInit");
  CUcontext ctx = nullptr;
  CUdevice dev = 0;
  if (api.cuCtxGetCurrent(&ctx) == CUDA_SUCCESS && ctx && api.cuCtxGetDevice(&dev) == CUDA_SUCCESS) {
    s.device_index = static_cast<std::size_t>(dev);
  }
  auto init = params<CUpti_Profiler_Initialize_Params>();
  init.structSize = CUpti_Profiler_Initialize_Params_STRUCT_SIZE;
  if (CUptiResult r = api.cuptiProfilerInitialize(&init); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI profiler (PM sampling)");
  s.profiler_initialized = true;

  auto chip = params<CUpti_Device_GetChipName_Params>();
  chip.structSize = CUpti_Device_GetChipName_Params_STRUCT_SIZE;
  chip.deviceIndex = s.device_index;
  if (CUptiResult r = api.cuptiDeviceGetChipName(&chip); r != CUPTI_SUCCESS) return failed(s.fail(r, "CUPTI chip name"));
  const std::string chip_name = chip.pChipName ? chip.pChipName : "";

  auto avail = params<CUpti_PmSampling_GetCounterAvailability_Params>();
  avail.structSize = CUpti_PmSampling_GetCounterAvailability_Params_STRUCT_SIZE;
  avail.deviceIndex = s.device_index;
  if (CUptiResult r = s.pm.cuptiPmSamplingGetCounterAvailability(&avail); r != CUPTI_SUCCESS)
    return failed(s.fail(r, "PM sampling counter availability"));
  s.availability.assign(avail.counterAvailabilityImageSize, 0);
  avail.pCounterAvailabilityImage = s.availability.data();
  if (CUptiResult r = s.pm.cuptiPmSamplingGetCounterAvailability(&avail); r != CUPTI_SUCCESS)
    return failed(s.fail(r, "PM sampling counter availability"));

  std::string err;
  bool configured = false;
  for (const MetricSet& m : kMetricSets) {
    err = s.build_config(chip_name.c_str(), m);
    if (err.empty()) {
      s.metrics = m;
      configured = true;
      break;
    }
    if (notes) notes->push_back("PM sampling: " + err);
  }
  if (!configured) return failed("PM sampling of DRAM bytes unavailable on " + chip_name + ": " + err);
  s.metric_ptrs = {s.metrics.read, s.metrics.write};

  auto enable = params<CUpti_PmSampling_Enable_Params>();
  enable.structSize = CUpti_PmSampling_Enable_Params_STRUCT_SIZE;
  enable.deviceIndex = s.device_index;
  if (CUptiResult r = s.pm.cuptiPmSamplingEnable(&enable); r != CUPTI_SUCCESS) return failed(s.fail(r, "PM sampling"));
  s.object = enable.pPmSamplingObject;

  // Time-based trigger first (fixed-frequency source); sysclk cycles where it is not supported.
  CUptiResult set_result = CUPTI_ERROR_UNKNOWN;
  for (auto mode : {CUPTI_PM_SAMPLING_TRIGGER_MODE_GPU_TIME_INTERVAL, CUPTI_PM_SAMPLING_TRIGGER_MODE_GPU_SYSCLK_INTERVAL}) {
    auto set = params<CUpti_PmSampling_SetConfig_Params>();
    set.structSize = CUpti_PmSampling_SetConfig_Params_STRUCT_SIZE;
    set.pPmSamplingObject = s.object;
    set.configSize = s.config.size();
    set.pConfig = s.config.data();
    set.hardwareBufferSize = s.options.hardware_buffer_bytes;
    // sysclk mode counts cycles: ~1.7 GHz on current data-centre GPUs, so ns * 1.7 is close enough.
    set.samplingInterval = mode == CUPTI_PM_SAMPLING_TRIGGER_MODE_GPU_TIME_INTERVAL ? s.options.interval_ns
                                                                                   : s.options.interval_ns * 17 / 10;
    set.triggerMode = mode;
    set.hwBufferAppendMode = CUPTI_PM_SAMPLING_HARDWARE_BUFFER_APPEND_MODE_KEEP_OLDEST;
    set_result = s.pm.cuptiPmSamplingSetConfig(&set);
    if (set_result == CUPTI_SUCCESS) {
      if (mode != CUPTI_PM_SAMPLING_TRIGGER_MODE_GPU_TIME_INTERVAL && notes)
        notes->push_back("PM sampling: time trigger unsupported, sampling every ~interval of GPU sysclk cycles");
      break;
    }
  }
  if (set_result != CUPTI_SUCCESS) return failed(s.fail(set_result, "PM sampling config"));

  auto size = params<CUpti_PmSampling_GetCounterDataSize_Params>();
  size.structSize = CUpti_PmSampling_GetCounterDataSize_Params_STRUCT_SIZE;
  size.pPmSamplingObject = s.object;
  size.pMetricNames = s.metric_ptrs.data();
  size.numMetrics = s.metric_ptrs.size();
  size.maxSamples = s.options.max_samples;
  if (CUptiResult r = s.pm.cuptiPmSamplingGetCounterDataSize(&size); r != CUPTI_SUCCESS)
    return failed(s.fail(r, "PM sampling counter data size"));
  s.counter_data.assign(size.counterDataSize, 0);
  if (std::string e = s.init_counter_data(); !e.empty()) return failed(e);

  auto st = params<CUpti_PmSampling_Start_Params>();
  st.structSize = CUpti_PmSampling_Start_Params_STRUCT_SIZE;
  st.pPmSamplingObject = s.object;
  if (CUptiResult r = s.pm.cuptiPmSamplingStart(&st); r != CUPTI_SUCCESS) return failed(s.fail(r, "PM sampling start"));
  s.running = true;
  if (notes)
    notes->push_back(std::string("PM sampling ") + s.metrics.read + " / " + s.metrics.write + " every " +
                     std::to_string(s.options.interval_ns / 1000) + " us on " + chip_name);
  return {};
}

std::string PmSampler::collect() {
  Impl& s = *impl_;
  if (!s.running) return {};
  for (int guard = 0; guard < 64; ++guard) {
    auto dec = params<CUpti_PmSampling_DecodeData_Params>();
    dec.structSize = CUpti_PmSampling_DecodeData_Params_STRUCT_SIZE;
    dec.pPmSamplingObject = s.object;
    dec.pCounterDataImage = s.counter_data.data();
    dec.counterDataImageSize = s.counter_data.size();
    const CUptiResult r = s.pm.cuptiPmSamplingDecodeData(&dec);
    if (dec.overflow && !s.overflow_reported) {
      s.overflow_reported = true;
      StatusRecord w;
      w.level = StatusLevel::warning;
      w.message.assign("PM sampling: hardware buffer overflowed, samples lost (collect more often or raise the buffer)");
      s.out->try_push(w);
    }
    if (r != CUPTI_SUCCESS && r != CUPTI_ERROR_OUT_OF_MEMORY) return s.fail(r, "PM sampling decode");
    if (std::string e = s.emit_completed(); !e.empty()) return e;
    if (dec.decodeStopReason != CUPTI_PM_SAMPLING_DECODE_STOP_REASON_COUNTER_DATA_FULL) break;
    if (std::string e = s.init_counter_data(); !e.empty()) return e;
  }
  return {};
}

void PmSampler::stop() {
  Impl& s = *impl_;
  if (!s.api) return;
  if (s.running) {
    auto st = params<CUpti_PmSampling_Stop_Params>();
    st.structSize = CUpti_PmSampling_Stop_Params_STRUCT_SIZE;
    st.pPmSamplingObject = s.object;
    s.pm.cuptiPmSamplingStop(&st);
    collect();  // what the hardware buffer still holds
    s.running = false;
  }
  if (s.object) {
    auto p = params<CUpti_PmSampling_Disable_Params>();
    p.structSize = CUpti_PmSampling_Disable_Params_STRUCT_SIZE;
    p.pPmSamplingObject = s.object;
    s.pm.cuptiPmSamplingDisable(&p);
    s.object = nullptr;
  }
  s.destroy_host();
  if (s.profiler_initialized) {
    auto p = params<CUpti_Profiler_DeInitialize_Params>();
    p.structSize = CUpti_Profiler_DeInitialize_Params_STRUCT_SIZE;
    s.api->cuptiProfilerDeInitialize(&p);
    s.profiler_initialized = false;
  }
}

#endif  // SKV_PROBES_HAVE_CUPTI_HEADERS

}  // namespace skv::probes
