#pragma once
// The shape of a Llama-family model: everything the decoder needs besides the weights.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace skv {

// How RoPE pairs the dimensions of a head.
// - Interleaved: pairs (2i, 2i+1). GGUF llama files: llama.cpp's converter permutes the HF q/k
//   weights so that ggml's "normal" rope applies.
// - Half: pairs (i, i + d/2). Hugging Face checkpoints (rotate_half).
enum class RopeStyle { Interleaved, Half };

struct ModelConfig {
  std::string name = "unnamed";  // e.g. "SmolLM2-135M-Instruct"
  std::string architecture = "llama";
  int64_t n_layers = 0;
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads (GQA groups)
  int64_t head_dim = 0;
  int64_t hidden = 0;      // model width
  int64_t ffn_hidden = 0;  // SwiGLU inner width
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  double rope_theta = 10000.0;
  double rms_eps = 1e-5;
  bool tied_embeddings = true;
  RopeStyle rope_style = RopeStyle::Interleaved;
  // Content fingerprint of the checkpoint (GGUF: the sampled hash of WeightSource::identity, hex);
  // empty where none is computed. Survives a renamed file, unlike name. Last, so positional
  // initialisation of the fields above is unchanged.
  std::string checkpoint;

  // Throws skv::Error naming the first inconsistent field.
  void validate() const;
  // Bytes of a full fp16 KV cache for one token (all layers, K and V).
  int64_t fp16_kv_bytes_per_token() const { return 2 * 2 * n_layers * n_kv_heads * head_dim; }
};

ModelConfig model_config_from_json(const nlohmann::json& j);  // shape-only JSON / HF config.json
nlohmann::json model_config_to_json(const ModelConfig& c);

}  // namespace skv
