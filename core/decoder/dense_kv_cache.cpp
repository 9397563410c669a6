#include "core/decoder/dense_kv_cache.h"

#include <cmath>

#include "core/common/error.h"

namespace skv {

at::Tensor exact_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           int64_t q_pos0) {
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2);
  const int64_t group = Hq / Hkv;
  // Query heads of one group share a KV head (GQA): fold the group into the query rows.
  auto qg = q.to(at::kFloat).reshape({B, Hkv, group * T, d});
  auto kf = k.to(at::kFloat), vf = v.to(at::kFloat);
  auto scores = at::matmul(qg, kf.transpose(-1, -2)) / std::sqrt(static_cast<double>(d));
  if (T > 1 || q_pos0 + T < S) {
    // Row r of the folded query is token t = r % T at position q_pos0 + t.
    auto opts = at::TensorOptions().dtype(at::kLong).device(q.device());
    auto qpos = (at::arange(T, opts) + q_pos0).repeat({group});          // [group*T]
    auto kpos = at::arange(S, opts);                                      // [S]
    auto masked = kpos.unsqueeze(0) > qpos.unsqueeze(1);                  // [group*T, S]
    scores = scores.masked_fill(masked, -std::numeric_limits<float>::infinity());
  }
  auto probs = at::softmax(scores, -1);
  return at::matmul(probs, vf).reshape({B, Hq, T, d});
}

void DenseKvCache::reset(const ModelConfig& c, int64_t batch, int64_t capacity,
                         const at::Device& device) {
  k_.clear();
  v_.clear();
  auto opts = at::TensorOptions().dtype(storage_).device(device);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    k_.push_back(at::empty({batch, c.n_kv_heads, capacity, c.head_dim}, opts));
    v_.push_back(at::empty({batch, c.n_kv_heads, capacity, c.head_dim}, opts));
  }
  length_ = 0;
  capacity_ = capacity;
}

at::Tensor DenseKvCache::attend(const AttentionCall& call) {
  const int64_t T = call.k.size(2);
  if (call.start_pos != length_ && call.layer == 0)
    throw Error("dense cache: tokens must be appended in order (cache holds " +
                std::to_string(length_) + ", call starts at " + std::to_string(call.start_pos) + ")");
  if (call.start_pos + T > capacity_)
    throw Error("KV cache full: " + std::to_string(call.start_pos + T) + " tokens exceed its capacity of " +
                std::to_string(capacity_));
  auto& K = k_.at(call.layer);
  auto& V = v_.at(call.layer);
  K.narrow(2, call.start_pos, T).copy_(call.k);
  V.narrow(2, call.start_pos, T).copy_(call.v);
  const int64_t S = call.start_pos + T;
  if (call.layer + 1 == static_cast<int64_t>(k_.size())) length_ = S;
  return exact_attention(call.q, K.narrow(2, 0, S), V.narrow(2, 0, S), call.start_pos);
}

at::Tensor DenseKvCache::keys(int64_t layer) const { return k_.at(layer).narrow(2, 0, length_); }
at::Tensor DenseKvCache::values(int64_t layer) const { return v_.at(layer).narrow(2, 0, length_); }

}  // namespace skv
