#include "app/studio/attention_error_meter.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "core/cache/tiered_kv_cache.h"

namespace skv::studio {
namespace {

// softmax(q · K^T / sqrt(d)) for one query row q [d] against K [S, d]; float32 on the host.
std::vector<float> attention_probs(const at::Tensor& q, const at::Tensor& keys) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(0)));
  auto probs = at::softmax(at::matmul(keys.to(at::kFloat), q.to(at::kFloat)) * scale, 0).contiguous().cpu();
  const float* p = probs.data_ptr<float>();
  return std::vector<float>(p, p + probs.numel());
}

// The compressed cache's attention of query q over positions 0..S-1, from the cache's own state:
// sealed tokens score against their decoded keys (TieredKvCache::sealed_keys; ADA's LUT logits
// equal these dot products up to float rounding), hot-window tokens against their fp16-rounded
// keys, dropped tokens get 0. Not shown: a completion summary's mass (rdr-c, quest-c) and pages a
// query-aware policy skips for this query (Quest): both are counted as their plain tokens.
std::vector<float> tiered_probs(const TieredKvCache& cache, int64_t layer, int64_t kv_head, const at::Tensor& q,
                                const at::Tensor& exact_keys) {
  const int64_t S = exact_keys.size(0);
  at::Tensor tiers = cache.tier_map(layer).select(0, kv_head).to(at::kCPU).to(at::kInt);  // [N]
  at::Tensor keys = exact_keys.to(at::kCPU).to(at::kHalf).to(at::kFloat).clone();           // hot: fp16 rounded
  at::Tensor present = at::zeros({S}, at::kBool);
  const int64_t n = std::min<int64_t>(S, tiers.size(0));
  present.narrow(0, 0, n).copy_(tiers.narrow(0, 0, n).eq(kHotTier));
  // The tokens of this call: the cache's length (and tier map) grows after the last layer, and
  // new tokens always enter the fp16 hot window.
  if (n < S) present.narrow(0, n, S - n).fill_(true);
  at::Tensor sealed = cache.sealed_keys(layer, kv_head);
  if (sealed.defined() && sealed.numel() > 0) {
    at::Tensor pos = cache.sealed_positions(layer, kv_head).to(at::kCPU).to(at::kLong);
    at::Tensor rows = pos.lt(S).logical_and(pos.ge(0)).nonzero().squeeze(1);
    pos = pos.index_select(0, rows);
    keys.index_copy_(0, pos, sealed.to(at::kCPU).to(at::kFloat).index_select(0, rows));
    present.index_fill_(0, pos, true);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(0)));
  at::Tensor logits = at::matmul(keys, q.to(at::kCPU).to(at::kFloat)) * scale;
  logits = logits.masked_fill(present.logical_not(), -std::numeric_limits<float>::infinity());
  auto probs = at::softmax(logits, 0).nan_to_num(0.0).contiguous();
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
    } else if (auto* tiered = dynamic_cast<TieredKvCache*>(&inner_)) {
      compressed_probs_ = tiered_probs(*tiered, call.layer, kv_head, q, at::cat({old_k, new_k.to(old_k.scalar_type())}, 0));
      compressed_why_not_.clear();
    } else {
      compressed_probs_.clear();
      compressed_why_not_ = "backend '" + inner_.name() + "' does not expose its scored keys";
    }
  }
  return out;
}

}  // namespace skv::studio
