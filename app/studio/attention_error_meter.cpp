#include "app/studio/attention_error_meter.h"

#include <cmath>

#include <ATen/ATen.h>

namespace skv::studio {
namespace {

// softmax(q · K^T / sqrt(d)) for one query row q [d] against K [S, d]; float32 on the host.
std::vector<float> attention_probs(const at::Tensor& q, const at::Tensor& keys) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(0)));
  auto probs = at::softmax(at::matmul(keys.to(at::kFloat), q.to(at::kFloat)) * scale, 0).contiguous().cpu();
  const float* p = probs.data_ptr<float>();
  return std::vector<float>(p, p + probs.numel());
}

}  // namespace

void AttentionErrorMeter::reset(const ModelConfig& config, int64_t batch, int64_t capacity,
                                const at::Device& device) {
  inner_.reset(config, batch, capacity, device);
  layers_ = config.n_layers;
  q_heads_ = config.n_heads;
  last_.assign(static_cast<size_t>(layers_ * q_heads_), 0.0f);
  exact_probs_.clear();
  compressed_probs_.clear();
  if (measure_) shadow_.reset(config, batch, capacity, device);
}

at::Tensor AttentionErrorMeter::attend(const AttentionCall& call) {
  at::Tensor out = inner_.attend(call);
  if (!measure_) return out;
  at::Tensor exact = shadow_.attend(call);  // [B, Hq, T, d]
  const int64_t T = call.q.size(2);
  // The newest query of sequence 0: the one whose next-token logits the user sees.
  auto o = exact.select(0, 0).select(1, T - 1).to(at::kFloat);     // [Hq, d]
  auto o_hat = out.select(0, 0).select(1, T - 1).to(at::kFloat);   // [Hq, d]
  auto err = (at::linalg_vector_norm(o - o_hat, 2, {-1}) /
              at::linalg_vector_norm(o, 2, {-1}).clamp_min(1e-12)).contiguous().cpu();
  const float* e = err.data_ptr<float>();
  for (int64_t h = 0; h < q_heads_; ++h) last_[static_cast<size_t>(call.layer * q_heads_ + h)] = e[h];

  if (call.layer == focus_layer_ && focus_head_ < q_heads_) {
    const int64_t hkv = call.k.size(1);
    const int64_t kv_head = focus_head_ / (q_heads_ / hkv);
    auto q = call.q.select(0, 0).select(0, focus_head_).select(0, T - 1);  // [d]
    // The shadow's keys() covers positions before this call; the new keys come from the call.
    auto new_k = call.k.select(0, 0).select(0, kv_head);                   // [T, d]
    auto old_k = shadow_.keys(call.layer).select(0, 0).select(0, kv_head).narrow(0, 0, call.start_pos);
    exact_probs_ = attention_probs(q, at::cat({old_k, new_k.to(old_k.scalar_type())}, 0));
    if (auto* dense = dynamic_cast<DenseKvCache*>(&inner_)) {
      auto old_c = dense->keys(call.layer).select(0, 0).select(0, kv_head).narrow(0, 0, call.start_pos);
      compressed_probs_ = attention_probs(q, at::cat({old_c, new_k.to(old_c.scalar_type())}, 0));
      compressed_why_not_.clear();
    } else {
      compressed_probs_.clear();
      compressed_why_not_ = "backend '" + inner_.name() + "' does not expose its scored keys";
    }
  }
  return out;
}

}  // namespace skv::studio
