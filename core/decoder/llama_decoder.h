#pragma once
// A Llama-family decoder in libtorch, written to be read (gpt-fast's model.py is the model):
// RMSNorm, RoPE in the layout the weight file requires, GQA attention through an
// AttentionBackend, SwiGLU MLP, tied or separate output embedding.
#include <vector>

#include <ATen/ATen.h>

#include "core/decoder/attention_backend.h"
#include "core/model/model_config.h"
#include "core/model/weight_source.h"

namespace skv {

// Optional hook around each layer's backend.attend (core/probing's DecodeProbe opens one probe
// range per layer's attention with it). Not owned; null by default: one pointer test per layer.
class AttentionHook {
 public:
  virtual ~AttentionHook() = default;
  virtual void before_attention(const AttentionCall& call) = 0;
  virtual void after_attention(const AttentionCall& call, const AttentionBackend& backend) = 0;
};

class LlamaDecoder {
 public:
  // Loads every weight from `source` onto `device` as float32.
  LlamaDecoder(const WeightSource& source, const at::Device& device);

  const ModelConfig& config() const { return config_; }
  const at::Device& device() const { return device_; }

  // Runs tokens `ids` [B, T] at positions start_pos.. through the model; the backend gets each
  // layer's q/k/v. Returns logits [B, T, vocab] (only the last position when last_only).
  at::Tensor forward(const at::Tensor& ids, int64_t start_pos, AttentionBackend& backend,
                     bool last_only = false, int64_t n_layers = -1);
  // Hidden state after `n_layers` blocks (before the final norm), [B, T, hidden]; for tests.
  at::Tensor hidden_after(const at::Tensor& ids, int64_t n_layers, AttentionBackend& backend);

  void set_observer(AttentionObserver observer) { observer_ = std::move(observer); }
  void set_attention_hook(AttentionHook* hook) { hook_ = hook; }  // null = none

 private:
  struct Layer {
    at::Tensor attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
  };
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w) const;
  at::Tensor apply_rope(const at::Tensor& x, int64_t start_pos) const;  // x [B, H, T, d]
  at::Tensor run_blocks(const at::Tensor& ids, int64_t start_pos, AttentionBackend& backend,
                        int64_t n_layers);

  ModelConfig config_;
  at::Device device_;
  at::Tensor embed_, output_norm_, output_;
  std::vector<Layer> layers_;
  at::Tensor inv_freq_;  // [d/2]
  AttentionObserver observer_;
  AttentionHook* hook_ = nullptr;
};

}  // namespace skv
