#pragma once
// WeightSource over a Hugging Face Llama checkpoint: a .safetensors file or a directory holding
// model.safetensors or sharded model-0000x-of-0000y.safetensors (+ model.safetensors.index.json),
// with config.json beside it. HF tensor names are mapped to the canonical GGUF names.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/model/safetensors_reader.h"
#include "core/model/weight_source.h"

namespace skv {

class SafetensorsWeightSource : public WeightSource {
 public:
  // `path`: a directory or a .safetensors file (config.json is looked for in its directory).
  explicit SafetensorsWeightSource(const std::string& path);

  const ModelConfig& config() const override { return config_; }
  bool has(const std::string& name) const override { return index_.count(name) != 0; }
  HostTensor load(const std::string& name) const override;
  std::vector<TensorDescription> describe() const override;
  std::string identity() const override { return identity_; }

 private:
  struct Entry {
    const SafetensorsFile* file;
    const SafetensorsTensorInfo* info;
  };
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> index_;  // canonical name -> where it lives
  ModelConfig config_;
  std::string identity_;
};

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" for names skv does not
// use (e.g. rotary_emb.inv_freq).
std::string hf_to_canonical_name(const std::string& hf_name);

}  // namespace skv
