// ModelConfig <-> JSON. The JSON keys are Hugging Face config.json's, so one loader reads both a
// checkpoint's config.json and our shape-only configs in assets/models/ (which add "name").
#include "core/model/model_config.h"

#include <nlohmann/json.hpp>

#include "core/common/error.h"

namespace skv {
namespace {

int64_t get_int(const nlohmann::json& j, const char* key, bool required, int64_t fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw Error(std::string("model config: key \"") + key + "\" is missing");
    return fallback;
  }
  if (!it->is_number_integer()) {
    throw Error(std::string("model config: \"") + key + "\" must be an integer, got " + it->dump());
  }
  return it->get<int64_t>();
}

double get_double(const nlohmann::json& j, const char* key, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) {
    throw Error(std::string("model config: \"") + key + "\" must be a number, got " + it->dump());
  }
  return it->get<double>();
}

}  // namespace

void ModelConfig::validate() const {
  auto positive = [&](const char* field, int64_t v) {
    if (v <= 0) {
      throw Error("model config " + name + ": " + field + " must be > 0 (got " + std::to_string(v) + ")");
    }
  };
  positive("n_layers", n_layers);
  positive("n_heads", n_heads);
  positive("n_kv_heads", n_kv_heads);
  positive("head_dim", head_dim);
  positive("hidden", hidden);
  positive("ffn_hidden", ffn_hidden);
  positive("vocab_size", vocab_size);
  positive("context_length", context_length);
  if (n_heads % n_kv_heads != 0) {
    throw Error("model config " + name + ": n_heads " + std::to_string(n_heads) +
                " is not a multiple of n_kv_heads " + std::to_string(n_kv_heads));
  }
  if (head_dim % 2 != 0) {
    throw Error("model config " + name + ": head_dim " + std::to_string(head_dim) +
                " must be even (RoPE rotates pairs)");
  }
  if (!(rope_theta > 0.0)) {
    throw Error("model config " + name + ": rope_theta must be > 0 (got " + std::to_string(rope_theta) + ")");
  }
  if (!(rms_eps > 0.0)) {
    throw Error("model config " + name + ": rms_eps must be > 0 (got " + std::to_string(rms_eps) + ")");
  }
}

ModelConfig model_config_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("model config: expected a JSON object, got " + std::string(j.type_name()));
  ModelConfig c;
  if (auto it = j.find("name"); it != j.end() && it->is_string()) {
    c.name = it->get<std::string>();
  } else if (auto it2 = j.find("_name_or_path"); it2 != j.end() && it2->is_string() &&
                                                 !it2->get<std::string>().empty()) {
    c.name = it2->get<std::string>();
  }
  // HF "model_type"; Llama-compatible families only (Mistral without a sliding window is Llama).
  if (auto it = j.find("model_type"); it != j.end() && it->is_string()) {
    const auto mt = it->get<std::string>();
    if (mt == "mistral") {
      auto sw = j.find("sliding_window");
      if (sw != j.end() && !sw->is_null()) {
        throw Error("model config " + c.name + ": mistral with sliding_window attention is not supported");
      }
    } else if (mt != "llama") {
      throw Error("model config " + c.name + ": model_type \"" + mt +
                  "\" is not supported (skv runs llama-family models)");
    }
    c.architecture = "llama";
  }
  c.hidden = get_int(j, "hidden_size", true, 0);
  c.ffn_hidden = get_int(j, "intermediate_size", true, 0);
  c.n_layers = get_int(j, "num_hidden_layers", true, 0);
  c.n_heads = get_int(j, "num_attention_heads", true, 0);
  c.n_kv_heads = get_int(j, "num_key_value_heads", false, c.n_heads);
  c.vocab_size = get_int(j, "vocab_size", true, 0);
  c.context_length = get_int(j, "max_position_embeddings", true, 0);
  const bool explicit_head_dim = j.contains("head_dim") && !j["head_dim"].is_null();
  if (explicit_head_dim) {
    c.head_dim = get_int(j, "head_dim", true, 0);
  } else {
    if (c.n_heads <= 0 || c.hidden % c.n_heads != 0) {
      throw Error("model config " + c.name + ": hidden_size " + std::to_string(c.hidden) +
                  " is not a multiple of num_attention_heads " + std::to_string(c.n_heads) +
                  " (give head_dim explicitly)");
    }
    c.head_dim = c.hidden / c.n_heads;
  }
  c.rms_eps = get_double(j, "rms_norm_eps", 1e-5);
  c.rope_theta = get_double(j, "rope_theta", 10000.0);
  if (auto it = j.find("tie_word_embeddings"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) throw Error("model config: \"tie_word_embeddings\" must be true or false");
    c.tied_embeddings = it->get<bool>();
  } else {
    c.tied_embeddings = false;  // transformers' LlamaConfig default
  }
  // Hugging Face checkpoints rotate halves; "rope_style" lets a shape-only config say otherwise.
  c.rope_style = RopeStyle::Half;
  if (auto it = j.find("rope_style"); it != j.end()) {
    const auto s = it->is_string() ? it->get<std::string>() : std::string();
    if (s == "half") c.rope_style = RopeStyle::Half;
    else if (s == "interleaved") c.rope_style = RopeStyle::Interleaved;
    else throw Error("model config " + c.name + ": rope_style must be \"half\" or \"interleaved\", got " + it->dump());
  }
  c.validate();
  return c;
}

nlohmann::json model_config_to_json(const ModelConfig& c) {
  nlohmann::json j;
  j["name"] = c.name;
  j["model_type"] = c.architecture;
  j["hidden_size"] = c.hidden;
  j["intermediate_size"] = c.ffn_hidden;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.context_length;
  j["rms_norm_eps"] = c.rms_eps;
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["rope_style"] = c.rope_style == RopeStyle::Half ? "half" : "interleaved";
  return j;
}

}  // namespace skv
