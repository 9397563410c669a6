#pragma once
// The full-precision KV cache: every token kept, exact attention. The reference every
// compressed backend is measured against.
#include <vector>

#include <ATen/ATen.h>

#include "core/decoder/attention_backend.h"

namespace skv {

class DenseKvCache : public AttentionBackend {
 public:
  explicit DenseKvCache(at::ScalarType storage = at::kFloat) : storage_(storage) {}
  void reset(const ModelConfig& config, int64_t batch, int64_t capacity,
             const at::Device& device) override;
  at::Tensor attend(const AttentionCall& call) override;
  int64_t cached_tokens() const override { return length_; }
  std::string name() const override { return "dense"; }

  // Cached keys/values of one layer, [B, Hkv, cached_tokens, d] views.
  at::Tensor keys(int64_t layer) const;
  at::Tensor values(int64_t layer) const;

 private:
  at::ScalarType storage_;
  std::vector<at::Tensor> k_, v_;  // per layer [B, Hkv, capacity, d]
  int64_t length_ = 0;
  int64_t capacity_ = 0;
};

}  // namespace skv
