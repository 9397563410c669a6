#include "core/decoder/sampler.h"

#include <ATen/ATen.h>

#include "core/common/error.h"

namespace skv {

Sampler::Sampler(SamplingParams params) : params_(params), rng_(params.seed) {
  if (params_.temperature < 0) throw Error("temperature must be >= 0");
  if (!(params_.top_p > 0 && params_.top_p <= 1)) throw Error("top-p must be in (0, 1]");
}

int32_t Sampler::next(const at::Tensor& logits) {
  auto l = logits.to(at::kCPU, at::kDouble).contiguous();
  if (params_.temperature == 0.0) return static_cast<int32_t>(l.argmax().item<int64_t>());
  auto probs = at::softmax(l / params_.temperature, 0);
  auto [sorted, order] = probs.sort(0, /*descending=*/true);
  const double* p = sorted.data_ptr<double>();
  const int64_t* ids = order.data_ptr<int64_t>();
  const int64_t n = sorted.size(0);
  // Keep the smallest prefix whose mass reaches top_p (at least one token).
  int64_t keep = 0;
  double mass = 0;
  while (keep < n && (keep == 0 || mass < params_.top_p)) mass += p[keep++];
  std::uniform_real_distribution<double> u(0.0, mass);
  double r = u(rng_), acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (r < acc) return static_cast<int32_t>(ids[i]);
  }
  return static_cast<int32_t>(ids[keep - 1]);
}

std::vector<std::pair<int32_t, float>> top_k_logits(const at::Tensor& logits, int64_t k) {
  auto l = logits.to(at::kCPU, at::kFloat);
  auto [vals, idx] = l.topk(k);
  std::vector<std::pair<int32_t, float>> out;
  for (int64_t i = 0; i < k; ++i)
    out.emplace_back(static_cast<int32_t>(idx[i].item<int64_t>()), vals[i].item<float>());
  return out;
}

}  // namespace skv
