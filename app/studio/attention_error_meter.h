#pragma once
// An AttentionBackend wrapper that measures what a compressed backend costs, per (layer, query
// head): it feeds the same q/k/v to the backend under test and to a shadow exact cache, and keeps
// the attention-output relative error ‖o − ô‖ / ‖o‖ of the newest query (SPHERICAL_KV.md §3).
// Both caches see the same inputs every step (teacher forcing), so errors do not compound.
//
// Worker-thread only. Includes libtorch: keep it out of the GUI's files.
#include <memory>
#include <string>
#include <vector>

#include "core/decoder/attention_backend.h"
#include "core/decoder/dense_kv_cache.h"

namespace skv::studio {

class AttentionErrorMeter : public AttentionBackend {
 public:
  // measure=false makes it a transparent pass-through (no shadow cache, no cost).
  AttentionErrorMeter(AttentionBackend& inner, bool measure) : inner_(inner), measure_(measure) {}

  void reset(const ModelConfig& config, int64_t batch, int64_t capacity, const at::Device& device) override;
  at::Tensor attend(const AttentionCall& call) override;
  int64_t cached_tokens() const override { return inner_.cached_tokens(); }
  std::string name() const override { return inner_.name(); }

  bool measuring() const { return measure_; }
  void set_focus(int layer, int q_head) { focus_layer_ = layer; focus_head_ = q_head; }
  int focus_layer() const { return focus_layer_; }
  int focus_head() const { return focus_head_; }

  // Errors of the newest query, layers * q_heads (valid after a full forward pass).
  const std::vector<float>& last_errors() const { return last_; }
  // Attention probabilities of the focused head's newest query over positions 0..S-1.
  const std::vector<float>& exact_probs() const { return exact_probs_; }
  const std::vector<float>& compressed_probs() const { return compressed_probs_; }
  // Why compressed_probs is empty (the backend keeps no dense keys to score against).
  const std::string& compressed_why_not() const { return compressed_why_not_; }

 private:
  AttentionBackend& inner_;
  bool measure_;
  DenseKvCache shadow_{at::kFloat};
  int64_t layers_ = 0, q_heads_ = 0;
  int focus_layer_ = 0, focus_head_ = 0;
  std::vector<float> last_, exact_probs_, compressed_probs_;
  std::string compressed_why_not_;
};

}  // namespace skv::studio
