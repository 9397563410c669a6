// Built without CUDA: the CUDA entry points exist so callers link, and say why they cannot run.
#include "kernels/ada_attention.h"
#include "kernels/bench/attn_bench_suite.h"
#include "kernels/kernel_error.h"

namespace skv::kernels {

bool cuda_device_available() { return false; }

size_t ada_decode_workspace_bytes(const PagedKv&, int, int) { throw KernelError("built without CUDA"); }

void ada_decode_attention(const PagedKv&, const DecodeArgs&) { throw KernelError("built without CUDA"); }

void dense_fp16_decode_attention(const PagedKv&, const DecodeArgs&) { throw KernelError("built without CUDA"); }

void ada_encode(const TierTable&, const int8_t*, int, const float*, const float*, const EncodeJob*, int,
                uint8_t*, void*) {
  throw KernelError("built without CUDA");
}

std::vector<AttnBenchCase> attn_bench_grid(bool) { throw KernelError("built without CUDA"); }
GpuInfo gpu_info() { throw KernelError("built without CUDA"); }
double measure_copy_bandwidth_gbs() { throw KernelError("built without CUDA"); }
LaunchFloor measure_launch_floor() { throw KernelError("built without CUDA"); }
std::string attn_bench_tier_name() { throw KernelError("built without CUDA"); }
AttnBenchResult run_attn_bench_case(const AttnBenchCase&, int) { throw KernelError("built without CUDA"); }
double time_gpu_calls_us(const std::function<void(int)>&, int, int) { throw KernelError("built without CUDA"); }

}  // namespace skv::kernels
