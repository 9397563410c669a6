#include "core/bench/torch_sdpa_timing.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "kernels/ada_attention.h"

namespace skv {

SdpaTiming time_torch_sdpa_fp16(const kernels::AttnBenchCase& c, int runs) {
  if (!kernels::cuda_device_available()) throw Error("torch SDPA baseline: no CUDA device");
  SdpaTiming t;
  t.kv_bytes = 2.0 * c.batch * c.hkv * double(c.ctx) * c.d * 2.0;
  t.sets = int(std::clamp(std::ceil(double(size_t(256) << 20) / t.kv_bytes), 1.0, 64.0));
  try {
    const auto opt = at::TensorOptions().device(at::kCUDA).dtype(at::kHalf);
    std::vector<at::Tensor> q, k, v;
    for (int s = 0; s < t.sets; ++s) {
      q.push_back(at::randn({c.batch, c.hq, 1, c.d}, opt));
      k.push_back(at::randn({c.batch, c.hkv, c.ctx, c.d}, opt));
      v.push_back(at::randn({c.batch, c.hkv, c.ctx, c.d}, opt));
    }
    t.us = kernels::time_gpu_calls_us(
        [&](int s) {
          (void)at::scaled_dot_product_attention(q[size_t(s)], k[size_t(s)], v[size_t(s)], {}, 0.0, false,
                                                 std::nullopt, /*enable_gqa=*/true);
        },
        runs, t.sets);
  } catch (const c10::OutOfMemoryError&) {
    throw Error("torch SDPA baseline: GPU out of memory at context " + std::to_string(c.ctx) + ", batch " +
                std::to_string(c.batch) + ", " + std::to_string(c.hkv) + " kv heads");
  }
  return t;
}

}  // namespace skv
