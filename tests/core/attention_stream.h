// Test inputs shared by the cache tests: a small GQA shape and a seeded stream of queries, keys
// (with a shared per-head offset, as real keys have) and values, cut into AttentionCalls.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>

#include "core/decoder/attention_backend.h"
#include "core/model/model_config.h"

namespace skv::test_inputs {

// 2 layers, 4 query / 2 kv heads of dim 64.
inline ModelConfig small_attention_config() {
  ModelConfig c;
  c.name = "tiny";
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.hidden = 256;
  c.ffn_hidden = 512;
  c.vocab_size = 100;
  c.context_length = 4096;
  return c;
}

struct Stream {
  at::Tensor q, k, v;  // [1, H, T, d]
};

inline Stream make_stream(const ModelConfig& c, int64_t T, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Stream s;
  s.q = at::randn({1, c.n_heads, T, c.head_dim}, gen);
  auto offset = at::randn({1, c.n_kv_heads, 1, c.head_dim}, gen) * 2.0;
  s.k = at::randn({1, c.n_kv_heads, T, c.head_dim}, gen) + offset;
  s.v = at::randn({1, c.n_kv_heads, T, c.head_dim}, gen);
  return s;
}

// Tokens [pos, pos + n) of the stream as one attention call of `layer`.
inline AttentionCall call_at(const Stream& s, int64_t layer, int64_t pos, int64_t n) {
  return AttentionCall{layer, pos, s.q.narrow(2, pos, n).contiguous(), s.k.narrow(2, pos, n).contiguous(),
                       s.v.narrow(2, pos, n).contiguous()};
}

}  // namespace skv::test_inputs
