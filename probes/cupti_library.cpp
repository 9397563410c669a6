#include "probes/cupti_library.h"

#include <dlfcn.h>

#include <cstdlib>

namespace skv::probes {

LibraryNames LibraryNames::from_environment() {
  LibraryNames n;
  if (const char* c = std::getenv("SKV_CUPTI_LIBRARY"); c && *c) n.cupti.insert(n.cupti.begin(), c);
  if (const char* c = std::getenv("SKV_CUDA_LIBRARY"); c && *c) n.cuda.insert(n.cuda.begin(), c);
  return n;
}

void* open_first_library(const std::vector<std::string>& names, std::string* tried, std::string* loaded) {
  // Prefer a copy that is already mapped into the process (torch ships its own libcupti).
  for (const auto& name : names) {
    if (void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
      if (loaded) *loaded = name;
      return h;
    }
  }
  for (const auto& name : names) {
    if (void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      if (loaded) *loaded = name;
      return h;
    }
    if (tried) {
      if (!tried->empty()) *tried += ", ";
      *tried += name;
    }
  }
  return nullptr;
}

#if SKV_PROBES_HAVE_CUPTI_HEADERS

#define SKV_STRINGIFY2(x) #x
#define SKV_STRINGIFY(x) SKV_STRINGIFY2(x)

LoadedLibraries load_cupti_library(const LibraryNames& names) {
  LoadedLibraries out;
  auto api = std::make_shared<CuptiApi>();
  std::string tried;
  void* cupti = open_first_library(names.cupti, &tried, &api->cupti_library);
  if (!cupti) {
    out.error = "CUPTI library not found (tried " + tried +
                "); install the CUDA toolkit's CUPTI or set SKV_CUPTI_LIBRARY to libcupti.so's path";
    return out;
  }
  tried.clear();
  void* cuda = open_first_library(names.cuda, &tried, &api->cuda_library);
  if (!cuda) {
    out.error = "no NVIDIA driver: " + tried + " not found (GPU probes need a GPU and its driver)";
    return out;
  }
  std::string missing;
#define SKV_LOAD_CUPTI(name)                                                   \
  api->name = reinterpret_cast<decltype(api->name)>(dlsym(cupti, #name));      \
  if (!api->name) missing += std::string(missing.empty() ? "" : ", ") + #name;
#define SKV_LOAD_CUDA(name)                                                                 \
  api->name = reinterpret_cast<decltype(api->name)>(dlsym(cuda, SKV_STRINGIFY(name)));      \
  if (!api->name) missing += std::string(missing.empty() ? "" : ", ") + SKV_STRINGIFY(name);
  SKV_CUPTI_FUNCTIONS(SKV_LOAD_CUPTI)
  SKV_CUDA_FUNCTIONS(SKV_LOAD_CUDA)
#undef SKV_LOAD_CUPTI
#undef SKV_LOAD_CUDA
  if (!missing.empty()) {
    out.error = api->cupti_library + " is too old for the SKV probe (missing " + missing +
                "); use the CUPTI of CUDA 13 or newer";
    return out;
  }
  out.api = std::move(api);
  return out;
}

std::string describe_cupti_result(const CuptiApi& api, CUptiResult result, const std::string& what) {
  switch (result) {
    case CUPTI_ERROR_INSUFFICIENT_PRIVILEGES:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES:
      return "GPU performance counters need root or the NVreg_RestrictProfilingToAdminUsers=0 driver option (" +
             what + ")";
    case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
      return "another profiler is attached (Nsight Systems/Compute, or torch.profiler/kineto); stop it to use "
             "the SKV probe (" + what + ")";
    case CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_LEGACY_PROFILER_NOT_SUPPORTED:
    case CUPTI_ERROR_NOT_SUPPORTED:
      return "this GPU or driver does not support " + what;
    default: break;
  }
  const char* text = nullptr;
  if (api.cuptiGetResultString) api.cuptiGetResultString(result, &text);
  return what + " failed: " + (text ? text : "CUPTI error " + std::to_string(static_cast<int>(result)));
}

std::string describe_cuda_result(CUresult result, const std::string& what) {
  switch (result) {
    case CUDA_ERROR_NO_DEVICE: return "no CUDA GPU found (" + what + ")";
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: return "the NVIDIA driver does not match this CUDA (" + what + ")";
    case CUDA_ERROR_NOT_INITIALIZED: return "CUDA is not initialized (" + what + ")";
    default: return what + " failed: CUDA driver error " + std::to_string(static_cast<int>(result));
  }
}

#endif  // SKV_PROBES_HAVE_CUPTI_HEADERS

}  // namespace skv::probes
