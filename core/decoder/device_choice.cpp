#include "core/decoder/device_choice.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <torch/cuda.h>

#include "core/common/error.h"

namespace skv {

bool cuda_available() { return torch::cuda::is_available(); }

c10::Device choose_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name == "gpu") {
    if (!cuda_available())
      throw Error("--device cuda: no CUDA GPU is visible to libtorch (driver missing or CPU-only torch); use --device cpu");
    return c10::Device(c10::kCUDA, 0);
  }
  if (name == "auto" || name.empty()) return cuda_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  throw Error("unknown device '" + name + "': use cpu, cuda or auto");
}

std::string device_description(const c10::Device& device) {
  if (device.is_cpu()) return "cpu (" + std::to_string(at::get_num_threads()) + " threads)";
  return "cuda:" + std::to_string(device.index());
}

}  // namespace skv
