// Every CUDA call and every launch is checked; failures become one-line KernelErrors.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "kernels/kernel_error.h"

#define SKV_CUDA_CHECK(expr)                                                                     \
  do {                                                                                           \
    const cudaError_t skv_err_ = (expr);                                                         \
    if (skv_err_ != cudaSuccess)                                                                 \
      throw ::skv::KernelError(std::string(#expr) + " failed: " + cudaGetErrorString(skv_err_)); \
  } while (0)

// After a <<<>>> launch: launch-configuration errors surface here, asynchronous ones at the next
// synchronising call.
#define SKV_CUDA_CHECK_LAUNCH(what) SKV_CUDA_CHECK(cudaGetLastError())
