// CUPTI and the CUDA driver, loaded at run time.
//
// probes/ links neither libcupti nor libcuda: a machine without a GPU, a driver or CUPTI must
// still run the decoder. load_cupti_library() dlopens them and fills CuptiApi, a plain table of
// function pointers. Tests fill the same table with fakes to drive failure paths (insufficient
// privileges, another profiler attached) without a GPU.
//
// The table's types come from the CUPTI/CUDA headers, so it exists only when the build saw them
// (SKV_PROBES_HAVE_CUPTI_HEADERS). Without them the probe reports that GPU levels were not built.
#pragma once

#include <memory>
#include <string>
#include <vector>

#if SKV_PROBES_HAVE_CUPTI_HEADERS
#include <cuda.h>
#include <cupti.h>
#include <cupti_pmsampling.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>
#endif

namespace skv::probes {

// Which shared libraries to try, in order. The first that loads wins. Already-loaded copies
// (e.g. the libcupti that torch's kineto pulled in) are preferred so the process has one CUPTI.
struct LibraryNames {
  std::vector<std::string> cupti = {"libcupti.so.13", "libcupti.so", "libcupti.so.12"};
  std::vector<std::string> cuda = {"libcuda.so.1", "libcuda.so"};
  // Names from the environment (SKV_CUPTI_LIBRARY / SKV_CUDA_LIBRARY) go first when set.
  static LibraryNames from_environment();
};

#if SKV_PROBES_HAVE_CUPTI_HEADERS

#define SKV_CUPTI_FUNCTIONS(X)                                                                   \
  X(cuptiGetResultString)                                                                        \
  X(cuptiGetTimestamp)                                                                           \
  X(cuptiSubscribe)                                                                              \
  X(cuptiUnsubscribe)                                                                            \
  X(cuptiActivityEnable)                                                                         \
  X(cuptiActivityDisable)                                                                        \
  X(cuptiActivityRegisterCallbacks)                                                              \
  X(cuptiActivityFlushAll)                                                                       \
  X(cuptiActivityGetNextRecord)                                                                  \
  X(cuptiActivityPushExternalCorrelationId)                                                      \
  X(cuptiActivityPopExternalCorrelationId)                                                       \
  X(cuptiProfilerInitialize)                                                                     \
  X(cuptiProfilerDeInitialize)                                                                   \
  X(cuptiProfilerGetCounterAvailability)                                                         \
  X(cuptiDeviceGetChipName)                                                                      \
  X(cuptiProfilerHostInitialize)                                                                 \
  X(cuptiProfilerHostDeinitialize)                                                               \
  X(cuptiProfilerHostConfigAddMetrics)                                                           \
  X(cuptiProfilerHostGetConfigImageSize)                                                         \
  X(cuptiProfilerHostGetConfigImage)                                                             \
  X(cuptiProfilerHostGetNumOfPasses)                                                             \
  X(cuptiProfilerHostEvaluateToGpuValues)                                                        \
  X(cuptiRangeProfilerEnable)                                                                    \
  X(cuptiRangeProfilerDisable)                                                                   \
  X(cuptiRangeProfilerSetConfig)                                                                 \
  X(cuptiRangeProfilerStart)                                                                     \
  X(cuptiRangeProfilerStop)                                                                      \
  X(cuptiRangeProfilerPushRange)                                                                 \
  X(cuptiRangeProfilerPopRange)                                                                  \
  X(cuptiRangeProfilerDecodeData)                                                                \
  X(cuptiRangeProfilerGetCounterDataSize)                                                        \
  X(cuptiRangeProfilerCounterDataImageInitialize)                                                \
  X(cuptiRangeProfilerGetCounterDataInfo)                                                        \
  X(cuptiRangeProfilerCounterDataGetRangeInfo)

// cuda.h maps some names to versioned symbols (cuDevicePrimaryCtxRelease -> ..._v2); the table
// member keeps the plain name and dlsym gets the versioned one.
#define SKV_CUDA_FUNCTIONS(X)                                                                    \
  X(cuInit)                                                                                      \
  X(cuDeviceGetCount)                                                                            \
  X(cuDeviceGet)                                                                                 \
  X(cuCtxGetCurrent)                                                                             \
  X(cuCtxSetCurrent)                                                                             \
  X(cuCtxGetDevice)                                                                              \
  X(cuCtxSynchronize)                                                                            \
  X(cuDevicePrimaryCtxRetain)                                                                    \
  X(cuDevicePrimaryCtxRelease)

struct CuptiApi {
#define SKV_DECLARE_FN(name) decltype(&::name) name = nullptr;
  SKV_CUPTI_FUNCTIONS(SKV_DECLARE_FN)
  SKV_CUDA_FUNCTIONS(SKV_DECLARE_FN)
#undef SKV_DECLARE_FN
  // Human-readable library paths that were loaded (for status messages).
  std::string cupti_library;
  std::string cuda_library;
};

// Owns the dlopen handles (closing them would leave CUPTI callbacks dangling, so the handles are
// intentionally never dlclosed; the object only records them).
struct LoadedLibraries {
  std::shared_ptr<const CuptiApi> api;  // null on failure
  std::string error;                    // one line, says which library was not found
};

LoadedLibraries load_cupti_library(const LibraryNames& names);

// One-line, actionable message for a CUPTI result. `what` names the call that failed.
std::string describe_cupti_result(const CuptiApi& api, CUptiResult result, const std::string& what);
std::string describe_cuda_result(CUresult result, const std::string& what);

#endif  // SKV_PROBES_HAVE_CUPTI_HEADERS

// Tries each name with dlopen; returns the handle or null and the list of names tried in *tried.
// Exposed for tests (a nonexistent path must give a message naming it).
void* open_first_library(const std::vector<std::string>& names, std::string* tried, std::string* loaded);

}  // namespace skv::probes
