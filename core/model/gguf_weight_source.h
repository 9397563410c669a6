#pragma once
// WeightSource over a llama-architecture GGUF file (llama.cpp's converter output).
#include <memory>
#include <string>

#include "core/model/gguf_reader.h"
#include "core/model/weight_source.h"

namespace skv {

class GgufWeightSource : public WeightSource {
 public:
  // Throws skv::Error for a file skv cannot run: another architecture, missing metadata,
  // missing/misshapen llama tensors, or tensor types we cannot dequantize.
  explicit GgufWeightSource(const std::string& path);

  const ModelConfig& config() const override { return config_; }
  bool has(const std::string& name) const override;
  HostTensor load(const std::string& name) const override;
  std::vector<TensorDescription> describe() const override;
  std::string identity() const override { return identity_; }

  const GgufFile& file() const { return *file_; }  // metadata, e.g. for the tokenizer

 private:
  std::unique_ptr<GgufFile> file_;
  ModelConfig config_;
  std::string identity_;
};

// ModelConfig from a GGUF file's llama.* metadata (rope_style Interleaved). Throws skv::Error.
ModelConfig model_config_from_gguf(const GgufFile& f);

// The tensors (canonical name -> PyTorch shape) a llama model of this shape has; output.weight
// only when not tied. Shared by the weight sources for validation and by the random source.
std::vector<std::pair<std::string, std::vector<int64_t>>> llama_tensor_shapes(const ModelConfig& c);

}  // namespace skv
