#pragma once
// The seam between the decoder and the KV cache: per layer, the decoder hands over the new
// post-RoPE q, k, v and receives the attention output. The backend owns the cache, so codecs and
// retention policies plug in here without touching the model code.
#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/model/model_config.h"

namespace skv {

struct AttentionCall {
  int64_t layer = 0;
  int64_t start_pos = 0;  // position of the first new token
  at::Tensor q;           // [B, Hq, T, d] post-RoPE
  at::Tensor k;           // [B, Hkv, T, d] post-RoPE
  at::Tensor v;           // [B, Hkv, T, d]
};

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  // Drops every cached token and sizes the cache for `capacity` positions of `batch` sequences.
  virtual void reset(const ModelConfig& config, int64_t batch, int64_t capacity,
                     const at::Device& device) = 0;
  // Appends call.k / call.v to layer call.layer's cache and returns softmax(q k^T / sqrt(d)) v over
  // every cached position <= the query's position: [B, Hq, T, d].
  virtual at::Tensor attend(const AttentionCall& call) = 0;
  // Tokens held per sequence (after the last layer's append).
  virtual int64_t cached_tokens() const = 0;
  virtual std::string name() const = 0;
};

// Observers see every layer's q/k/v before the backend (codec-eval collects real keys with it).
using AttentionObserver = std::function<void(const AttentionCall&)>;

// Exact causal attention with GQA on full tensors: q [B,Hq,T,d], k/v [B,Hkv,S,d]; query t sits at
// absolute position q_pos0 + t and may see keys 0..q_pos0+t. Returns [B,Hq,T,d]. float32 math.
at::Tensor exact_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           int64_t q_pos0);

}  // namespace skv
