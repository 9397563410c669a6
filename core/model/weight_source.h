#pragma once
// Where the decoder gets its weights: a GGUF file, a safetensors checkpoint, or seeded random
// weights for a shape-only config. Tensors are returned dequantized to float32, row-major, in
// PyTorch's shape order (a linear layer is [out_features, in_features]).
//
// Canonical tensor names are llama.cpp's GGUF names:
//   token_embd.weight, output_norm.weight, output.weight (absent when tied),
//   blk.N.attn_norm.weight, blk.N.attn_q.weight, blk.N.attn_k.weight, blk.N.attn_v.weight,
//   blk.N.attn_output.weight, blk.N.ffn_norm.weight, blk.N.ffn_gate.weight,
//   blk.N.ffn_up.weight, blk.N.ffn_down.weight
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/model/model_config.h"

namespace skv {

struct HostTensor {
  std::vector<int64_t> shape;  // PyTorch order, e.g. [out, in]
  std::vector<float> data;     // row-major, product(shape) elements
  int64_t numel() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
};

struct TensorDescription {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order
  std::string dtype;           // "Q4_1", "F32", "BF16", "random", ...
  uint64_t bytes = 0;          // stored bytes
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const ModelConfig& config() const = 0;
  virtual bool has(const std::string& name) const = 0;
  // Throws skv::Error if missing or malformed.
  virtual HostTensor load(const std::string& name) const = 0;
  virtual std::vector<TensorDescription> describe() const = 0;
  // A stable identity for sessions: file path + content hash, or the seed for random weights.
  virtual std::string identity() const = 0;
};

// Opens `spec`: "default" (the packaged SmolLM2-135M-Instruct GGUF), a .gguf file, a directory or
// .safetensors file with a config.json beside it, or a shape-only .json config (seeded random
// weights). Throws skv::Error with a one-line reason.
std::unique_ptr<WeightSource> open_weight_source(const std::string& spec, uint64_t seed = 0);

// The path "default" resolves to (SKV_DEFAULT_MODEL overrides). Throws if it cannot be found.
std::string default_model_path();

}  // namespace skv
