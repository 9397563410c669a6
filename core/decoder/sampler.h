#pragma once
// Next-token choice from one row of logits: greedy, or seeded temperature + top-p (nucleus).
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace skv {

struct SamplingParams {
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;        // nucleus mass kept, (0, 1]
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams params);
  // logits: [vocab] float. Deterministic for a given seed and call sequence.
  int32_t next(const at::Tensor& logits);
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

// The k highest logits, highest first: (token id, logit).
std::vector<std::pair<int32_t, float>> top_k_logits(const at::Tensor& logits, int64_t k);

}  // namespace skv
