#pragma once
// Seeded random weights for a shape-only config (assets/models/*.json): lets skv run and measure
// models whose weights are not on disk (e.g. the Llama-3.1-8B shape). Tensors are generated on
// each load() call, so opening an 8B config is instant.
#include <string>

#include "core/model/weight_source.h"

namespace skv {

class RandomWeightSource : public WeightSource {
 public:
  // Linear and embedding weights ~ N(0, std^2); RMSNorm weights = 1. Deterministic in
  // (seed, tensor name): the same seed gives bit-identical tensors on every machine.
  RandomWeightSource(ModelConfig config, uint64_t seed, float std = 0.02f);
  // Reads a shape-only JSON config (HF config.json keys + "name"); throws skv::Error.
  static std::unique_ptr<RandomWeightSource> from_json_file(const std::string& path, uint64_t seed);

  const ModelConfig& config() const override { return config_; }
  bool has(const std::string& name) const override;
  HostTensor load(const std::string& name) const override;
  std::vector<TensorDescription> describe() const override;
  std::string identity() const override;
  uint64_t seed() const { return seed_; }

 private:
  ModelConfig config_;
  uint64_t seed_;
  float std_;
};

}  // namespace skv
