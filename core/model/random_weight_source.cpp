#include "core/model/random_weight_source.h"

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/gguf_weight_source.h"  // llama_tensor_shapes

namespace skv {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a tiny, portable generator. std::normal_distribution is
// implementation-defined, so we draw normals ourselves (Box-Muller) to keep tensors identical
// across standard libraries.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_norm(const std::string& name) { return name.find("norm") != std::string::npos; }

}  // namespace

RandomWeightSource::RandomWeightSource(ModelConfig config, uint64_t seed, float std)
    : config_(std::move(config)), seed_(seed), std_(std) {
  config_.validate();
}

std::unique_ptr<RandomWeightSource> RandomWeightSource::from_json_file(const std::string& path,
                                                                       uint64_t seed) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open model config");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  try {
    return std::make_unique<RandomWeightSource>(model_config_from_json(j), seed);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

bool RandomWeightSource::has(const std::string& name) const {
  for (const auto& [n, shape] : llama_tensor_shapes(config_)) {
    if (n == name) return true;
  }
  return false;
}

HostTensor RandomWeightSource::load(const std::string& name) const {
  HostTensor t;
  for (auto& [n, shape] : llama_tensor_shapes(config_)) {
    if (n == name) {
      t.shape = shape;
      break;
    }
  }
  if (t.shape.empty()) throw Error("random weights of " + config_.name + " have no tensor " + name);
  const auto numel = static_cast<size_t>(t.numel());
  if (is_norm(name)) {
    t.data.assign(numel, 1.0f);
    return t;
  }
  t.data.resize(numel);
  uint64_t state = seed_ ^ fnv1a(name);
  for (size_t i = 0; i < numel; i += 2) {
    // Box-Muller on two uniforms in (0, 1]: 53-bit mantissas, never log(0).
    const double u1 = (static_cast<double>(splitmix64(state) >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 2.0 * M_PI * u2;
    t.data[i] = static_cast<float>(std_ * r * std::cos(a));
    if (i + 1 < numel) t.data[i + 1] = static_cast<float>(std_ * r * std::sin(a));
  }
  return t;
}

std::vector<TensorDescription> RandomWeightSource::describe() const {
  std::vector<TensorDescription> out;
  for (const auto& [n, shape] : llama_tensor_shapes(config_)) {
    uint64_t numel = 1;
    for (auto s : shape) numel *= static_cast<uint64_t>(s);
    out.push_back({n, shape, "random", numel * sizeof(float)});  // bytes once generated (float32)
  }
  return out;
}

std::string RandomWeightSource::identity() const {
  // The shape is part of the identity: two configs may share a name.
  return "random:" + config_.name + "#shape=" + std::to_string(fnv1a(model_config_to_json(config_).dump())) +
         "#seed=" + std::to_string(seed_);
}

}  // namespace skv
