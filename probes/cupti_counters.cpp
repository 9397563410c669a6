#include "probes/cupti_counters.h"

#include <algorithm>
#include <cstring>

namespace skv::probes {

#if SKV_PROBES_HAVE_CUPTI_HEADERS

namespace {

struct RangeMeta {
  std::string name;
  std::int64_t step;
  std::int32_t layer;
};

template <typename T>
T params() {
  T p;
  std::memset(&p, 0, sizeof(p));
  return p;
}

}  // namespace

struct CuptiCounters::Impl {
  std::shared_ptr<const CuptiApi> api;
  RecordStream* out = nullptr;
  std::size_t max_ranges = 256;

  CUcontext ctx = nullptr;
  CUdevice device = 0;
  bool retained_primary = false;
  bool profiler_initialized = false;
  CUpti_RangeProfiler_Object* object = nullptr;
  CUpti_Profiler_Host_Object* host = nullptr;
  bool running = false;

  std::string chip;
  std::vector<std::uint8_t> availability;
  std::vector<std::uint8_t> config;
  std::vector<std::uint8_t> counter_data;
  std::vector<std::string> metrics;
  std::vector<const char*> metric_ptrs;
  std::vector<RangeMeta> ranges;  // finished + open ranges since the last collect, in push order

  std::string fail(CUptiResult r, const std::string& what) const { return describe_cupti_result(*api, r, what); }

  void destroy_host() {
    if (host) {
      auto p = params<CUpti_Profiler_Host_Deinitialize_Params>();
      p.structSize = CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE;
      p.pHostObject = host;
      api->cuptiProfilerHostDeinitialize(&p);
      host = nullptr;
    }
  }

  // Builds a config image for `wanted`; returns the number of passes (0 on failure, with *err).
  std::size_t build_config(const std::vector<std::string>& wanted, std::string* err) {
    destroy_host();
    auto init = params<CUpti_Profiler_Host_Initialize_Params>();
    init.structSize = CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE;
    init.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    init.pChipName = chip.c_str();
    init.pCounterAvailabilityImage = availability.data();
    if (CUptiResult r = api->cuptiProfilerHostInitialize(&init); r != CUPTI_SUCCESS) {
      *err = fail(r, "CUPTI profiler host for chip " + chip);
      return 0;
    }
    host = init.pHostObject;
    std::vector<const char*> names;
    for (const auto& m : wanted) names.push_back(m.c_str());
    auto add = params<CUpti_Profiler_Host_ConfigAddMetrics_Params>();
    add.structSize = CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE;
    add.pHostObject = host;
    add.ppMetricNames = names.data();
    add.numMetrics = names.size();
    if (CUptiResult r = api->cuptiProfilerHostConfigAddMetrics(&add); r != CUPTI_SUCCESS) {
      *err = fail(r, "CUPTI metrics on " + chip);
      return 0;
    }
    auto size = params<CUpti_Profiler_Host_GetConfigImageSize_Params>();
    size.structSize = CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE;
    size.pHostObject = host;
    if (CUptiResult r = api->cuptiProfilerHostGetConfigImageSize(&size); r != CUPTI_SUCCESS) {
      *err = fail(r, "CUPTI config image size");
      return 0;
    }
    config.assign(size.configImageSize, 0);
    auto image = params<CUpti_Profiler_Host_GetConfigImage_Params>();
    image.structSize = CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE;
    image.pHostObject = host;
    image.configImageSize = config.size();
    image.pConfigImage = config.data();
    if (CUptiResult r = api->cuptiProfilerHostGetConfigImage(&image); r != CUPTI_SUCCESS) {
      *err = fail(r, "CUPTI config image");
      return 0;
    }
    auto passes = params<CUpti_Profiler_Host_GetNumOfPasses_Params>();
    passes.structSize = CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE;
    passes.configImageSize = config.size();
    passes.pConfigImage = config.data();
    if (CUptiResult r = api->cuptiProfilerHostGetNumOfPasses(&passes); r != CUPTI_SUCCESS) {
      *err = fail(r, "CUPTI pass count");
      return 0;
    }
    return passes.numOfPasses;
  }

  std::string init_counter_data() {
    auto init = params<CUpti_RangeProfiler_CounterDataImage_Initialize_Params>();
    init.structSize = CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE;
    init.pRangeProfilerObject = object;
    init.counterDataSize = counter_data.size();
    init.pCounterData = counter_data.data();
    if (CUptiResult r = api->cuptiRangeProfilerCounterDataImageInitialize(&init); r != CUPTI_SUCCESS) {
      return fail(r, "CUPTI counter data image");
    }
    return {};
  }

  std::string start_profiler() {
    auto p = params<CUpti_RangeProfiler_Start_Params>();
    p.structSize = CUpti_RangeProfiler_Start_Params_STRUCT_SIZE;
    p.pRangeProfilerObject = object;
    if (CUptiResult r = api->cuptiRangeProfilerStart(&p); r != CUPTI_SUCCESS) return fail(r, "CUPTI range profiler start");
    running = true;
    return {};
  }
};

CuptiCounters::CuptiCounters(std::shared_ptr<const CuptiApi> api, RecordStream* out, std::size_t max_ranges)
    : impl_(std::make_unique<Impl>()) {
  impl_->api = std::move(api);
  impl_->out = out;
  impl_->max_ranges = std::max<std::size_t>(max_ranges, 2);
}

CuptiCounters::~CuptiCounters() { stop(); }

std::string CuptiCounters::start(std::vector<std::string>* notes) {
  Impl& s = *impl_;
  const CuptiApi& api = *s.api;
  if (CUresult r = api.cuInit(0); r != CUDA_SUCCESS) return describe_cuda_result(r, "cuInit");
  int count = 0;
  if (CUresult r = api.cuDeviceGetCount(&count); r != CUDA_SUCCESS) return describe_cuda_result(r, "cuDeviceGetCount");
  if (count == 0) return "no CUDA GPU found (GPU performance counters need one)";
  if (CUresult r = api.cuCtxGetCurrent(&s.ctx); r != CUDA_SUCCESS) return describe_cuda_result(r, "cuCtxGetCurrent");
  if (!s.ctx) {
    // No context on this thread yet: use device 0's primary context, the one the CUDA runtime
    // (and torch) will use, so the profiled kernels run in the profiled context.
    if (CUresult r = api.cuDeviceGet(&s.device, 0); r != CUDA_SUCCESS) return describe_cuda_result(r, "cuDeviceGet");
    if (CUresult r = api.cuDevicePrimaryCtxRetain(&s.ctx, s.device); r != CUDA_SUCCESS) {
      return describe_cuda_result(r, "cuDevicePrimaryCtxRetain");
    }
    s.retained_primary = true;
    api.cuCtxSetCurrent(s.ctx);
  } else if (CUresult r = api.cuCtxGetDevice(&s.device); r != CUDA_SUCCESS) {
    return describe_cuda_result(r, "cuCtxGetDevice");
  }

  auto init = params<CUpti_Profiler_Initialize_Params>();
  init.structSize = CUpti_Profiler_Initialize_Params_STRUCT_SIZE;
  if (CUptiResult r = api.cuptiProfilerInitialize(&init); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI profiler");
  s.profiler_initialized = true;

  auto chip = params<CUpti_Device_GetChipName_Params>();
  chip.structSize = CUpti_Device_GetChipName_Params_STRUCT_SIZE;
  chip.deviceIndex = static_cast<std::size_t>(s.device);
  if (CUptiResult r = api.cuptiDeviceGetChipName(&chip); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI chip name");
  s.chip = chip.pChipName ? chip.pChipName : "";

  auto avail = params<CUpti_Profiler_GetCounterAvailability_Params>();
  avail.structSize = CUpti_Profiler_GetCounterAvailability_Params_STRUCT_SIZE;
  avail.ctx = s.ctx;
  if (CUptiResult r = api.cuptiProfilerGetCounterAvailability(&avail); r != CUPTI_SUCCESS) {
    return s.fail(r, "GPU counter availability");
  }
  s.availability.assign(avail.counterAvailabilityImageSize, 0);
  avail.pCounterAvailabilityImage = s.availability.data();
  if (CUptiResult r = api.cuptiProfilerGetCounterAvailability(&avail); r != CUPTI_SUCCESS) {
    return s.fail(r, "GPU counter availability");
  }

  auto enable = params<CUpti_RangeProfiler_Enable_Params>();
  enable.structSize = CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE;
  enable.ctx = s.ctx;
  if (CUptiResult r = api.cuptiRangeProfilerEnable(&enable); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI range profiler");
  s.object = enable.pRangeProfilerObject;

  // Fall back from the full metric set to what fits one pass (user replay cannot replay a step).
  const std::vector<std::vector<std::string>> candidates = {
      {kMetricDramRead, kMetricDramWrite, kMetricGpuTime, kMetricL2HitRate},
      {kMetricDramRead, kMetricDramWrite, kMetricGpuTime},
      {kMetricDramRead, kMetricDramWrite},
  };
  std::string err;
  for (const auto& c : candidates) {
    err.clear();
    const std::size_t passes = s.build_config(c, &err);
    if (passes == 1) {
      s.metrics = c;
      break;
    }
    if (passes > 1) err = std::to_string(passes) + " passes needed for " + std::to_string(c.size()) + " metrics";
    if (notes) notes->push_back("counters: dropped a metric set on " + s.chip + " (" + err + ")");
  }
  if (s.metrics.empty()) return "DRAM byte counters unavailable: " + err;
  s.metric_ptrs.clear();
  for (const auto& m : s.metrics) s.metric_ptrs.push_back(m.c_str());

  auto size = params<CUpti_RangeProfiler_GetCounterDataSize_Params>();
  size.structSize = CUpti_RangeProfiler_GetCounterDataSize_Params_STRUCT_SIZE;
  size.pRangeProfilerObject = s.object;
  size.pMetricNames = s.metric_ptrs.data();
  size.numMetrics = s.metric_ptrs.size();
  size.maxNumOfRanges = s.max_ranges;
  size.maxNumRangeTreeNodes = static_cast<std::uint32_t>(s.max_ranges);
  if (CUptiResult r = api.cuptiRangeProfilerGetCounterDataSize(&size); r != CUPTI_SUCCESS) {
    return s.fail(r, "CUPTI counter data size");
  }
  s.counter_data.assign(size.counterDataSize, 0);
  if (std::string e = s.init_counter_data(); !e.empty()) return e;

  auto set = params<CUpti_RangeProfiler_SetConfig_Params>();
  set.structSize = CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE;
  set.pRangeProfilerObject = s.object;
  set.configSize = s.config.size();
  set.pConfig = s.config.data();
  set.counterDataImageSize = s.counter_data.size();
  set.pCounterDataImage = s.counter_data.data();
  set.range = CUPTI_UserRange;
  set.replayMode = CUPTI_UserReplay;
  set.maxRangesPerPass = s.max_ranges;
  set.numNestingLevels = 1;
  set.minNestingLevel = 1;
  set.passIndex = 0;
  set.targetNestingLevel = 0;
  if (CUptiResult r = api.cuptiRangeProfilerSetConfig(&set); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI range profiler config");
  return s.start_profiler();
}

std::string CuptiCounters::push_range(const std::string& name, std::int64_t step, std::int32_t layer) {
  Impl& s = *impl_;
  if (!s.running) return "counters are not running";
  if (s.ranges.size() + 1 >= s.max_ranges) {
    if (std::string e = collect(); !e.empty()) return e;
  }
  auto p = params<CUpti_RangeProfiler_PushRange_Params>();
  p.structSize = CUpti_RangeProfiler_PushRange_Params_STRUCT_SIZE;
  p.pRangeProfilerObject = s.object;
  p.pRangeName = name.c_str();  // CUPTI copies the name
  if (CUptiResult r = s.api->cuptiRangeProfilerPushRange(&p); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI push range");
  s.ranges.push_back({name, step, layer});
  return {};
}

std::string CuptiCounters::pop_range() {
  Impl& s = *impl_;
  if (!s.running) return "counters are not running";
  auto p = params<CUpti_RangeProfiler_PopRange_Params>();
  p.structSize = CUpti_RangeProfiler_PopRange_Params_STRUCT_SIZE;
  p.pRangeProfilerObject = s.object;
  if (CUptiResult r = s.api->cuptiRangeProfilerPopRange(&p); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI pop range");
  return {};
}

std::string CuptiCounters::collect() {
  Impl& s = *impl_;
  if (!s.running) return {};
  if (s.ranges.empty()) return {};
  const CuptiApi& api = *s.api;
  auto stop = params<CUpti_RangeProfiler_Stop_Params>();
  stop.structSize = CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE;
  stop.pRangeProfilerObject = s.object;
  if (CUptiResult r = api.cuptiRangeProfilerStop(&stop); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI range profiler stop");
  s.running = false;
  if (!stop.isAllPassSubmitted) return "counters need a second replay pass, which a decode step cannot give";
  api.cuCtxSynchronize();
  auto decode = params<CUpti_RangeProfiler_DecodeData_Params>();
  decode.structSize = CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE;
  decode.pRangeProfilerObject = s.object;
  if (CUptiResult r = api.cuptiRangeProfilerDecodeData(&decode); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI decode");

  auto info = params<CUpti_RangeProfiler_GetCounterDataInfo_Params>();
  info.structSize = CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE;
  info.pCounterDataImage = s.counter_data.data();
  info.counterDataImageSize = s.counter_data.size();
  if (CUptiResult r = api.cuptiRangeProfilerGetCounterDataInfo(&info); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI range count");

  if (decode.numOfRangeDropped > 0 || info.numTotalRanges != s.ranges.size()) {
    StatusRecord st;
    st.level = StatusLevel::warning;
    st.message.assign("counters: " + std::to_string(info.numTotalRanges) + " of " + std::to_string(s.ranges.size()) +
                      " ranges came back (" + std::to_string(decode.numOfRangeDropped) + " dropped by CUPTI)");
    s.out->try_push(st);
  }
  std::vector<double> values(s.metrics.size(), 0.0);
  for (std::size_t i = 0; i < info.numTotalRanges; ++i) {
    auto eval = params<CUpti_Profiler_Host_EvaluateToGpuValues_Params>();
    eval.structSize = CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE;
    eval.pHostObject = s.host;
    eval.pCounterDataImage = s.counter_data.data();
    eval.counterDataImageSize = s.counter_data.size();
    eval.rangeIndex = i;
    eval.ppMetricNames = s.metric_ptrs.data();
    eval.numMetrics = s.metric_ptrs.size();
    eval.pMetricValues = values.data();
    if (CUptiResult r = api.cuptiProfilerHostEvaluateToGpuValues(&eval); r != CUPTI_SUCCESS) return s.fail(r, "CUPTI evaluate");
    CounterRecord c;
    // Ranges come back in push order; when CUPTI dropped some, names can no longer be matched.
    if (i < s.ranges.size() && info.numTotalRanges == s.ranges.size()) {
      c.range.assign(s.ranges[i].name);
      c.step = s.ranges[i].step;
      c.layer = s.ranges[i].layer;
    } else {
      c.range.assign("range " + std::to_string(i));
    }
    for (std::size_t m = 0; m < s.metrics.size(); ++m) {
      const double v = values[m] < 0 ? 0.0 : values[m];
      if (s.metrics[m] == kMetricDramRead) c.dram_bytes_read = MeasuredBytes(static_cast<std::uint64_t>(v + 0.5));
      if (s.metrics[m] == kMetricDramWrite) c.dram_bytes_write = MeasuredBytes(static_cast<std::uint64_t>(v + 0.5));
      if (s.metrics[m] == kMetricGpuTime) c.gpu_time_ns = v;
      if (s.metrics[m] == kMetricL2HitRate) {
        c.has_l2_hit_rate = true;
        c.l2_hit_rate_pct = v;
      }
    }
    s.out->try_push(c);
  }
  s.ranges.clear();
  if (std::string e = s.init_counter_data(); !e.empty()) return e;
  return s.start_profiler();
}

void CuptiCounters::stop() {
  Impl& s = *impl_;
  if (!s.api) return;
  const CuptiApi& api = *s.api;
  if (s.running) {
    collect();
    if (s.running) {
      auto stop = params<CUpti_RangeProfiler_Stop_Params>();
      stop.structSize = CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE;
      stop.pRangeProfilerObject = s.object;
      api.cuptiRangeProfilerStop(&stop);
      s.running = false;
    }
  }
  if (s.object) {
    auto p = params<CUpti_RangeProfiler_Disable_Params>();
    p.structSize = CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE;
    p.pRangeProfilerObject = s.object;
    api.cuptiRangeProfilerDisable(&p);
    s.object = nullptr;
  }
  s.destroy_host();
  if (s.profiler_initialized) {
    auto p = params<CUpti_Profiler_DeInitialize_Params>();
    p.structSize = CUpti_Profiler_DeInitialize_Params_STRUCT_SIZE;
    api.cuptiProfilerDeInitialize(&p);
    s.profiler_initialized = false;
  }
  if (s.retained_primary) {
    api.cuDevicePrimaryCtxRelease(s.device);
    s.retained_primary = false;
  }
  s.ranges.clear();
}

const std::vector<std::string>& CuptiCounters::metrics() const { return impl_->metrics; }
std::size_t CuptiCounters::ranges_pending() const { return impl_->ranges.size(); }

#endif  // SKV_PROBES_HAVE_CUPTI_HEADERS

}  // namespace skv::probes
