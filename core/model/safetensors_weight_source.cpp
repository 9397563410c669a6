#include "core/model/safetensors_weight_source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/gguf_weight_source.h"  // llama_tensor_shapes

namespace skv {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw Error(p.string() + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(p.string() + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out;
  for (auto d : s) out += (out.empty() ? "" : "x") + std::to_string(d);
  return out;
}

}  // namespace

std::string hf_to_canonical_name(const std::string& n) {
  if (n == "model.embed_tokens.weight") return "token_embd.weight";
  if (n == "model.norm.weight") return "output_norm.weight";
  if (n == "lm_head.weight") return "output.weight";
  static const std::string prefix = "model.layers.";
  if (n.rfind(prefix, 0) != 0) return "";
  const size_t dot = n.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return "";
  const std::string layer = n.substr(prefix.size(), dot - prefix.size());
  if (layer.size() > 9 || !std::all_of(layer.begin(), layer.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "";
  }
  static const std::map<std::string, std::string> suffixes = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  auto it = suffixes.find(n.substr(dot + 1));
  if (it == suffixes.end()) return "";
  return "blk." + std::to_string(std::stoll(layer)) + "." + it->second;
}

SafetensorsWeightSource::SafetensorsWeightSource(const std::string& path_str) {
  const fs::path path(path_str);
  std::error_code ec;
  fs::path dir;
  std::vector<fs::path> shards;
  if (fs::is_directory(path, ec)) {
    dir = path;
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(dir / "model.safetensors")) {
      shards.push_back(dir / "model.safetensors");
    } else if (fs::exists(index)) {
      const auto j = read_json(index);
      if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
        throw Error(index.string() + ": has no \"weight_map\" object");
      }
      std::vector<std::string> names;
      for (const auto& [k, v] : j["weight_map"].items()) {
        if (!v.is_string()) throw Error(index.string() + ": weight_map[\"" + k + "\"] is not a file name");
        const auto f = v.get<std::string>();
        if (f.find('/') != std::string::npos) throw Error(index.string() + ": shard name " + f + " must be a plain file name");
        if (std::find(names.begin(), names.end(), f) == names.end()) names.push_back(f);
      }
      std::sort(names.begin(), names.end());
      for (const auto& n : names) shards.push_back(dir / n);
    } else {
      static const std::regex shard_re(R"(model-\d+-of-\d+\.safetensors)");
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (std::regex_match(e.path().filename().string(), shard_re)) shards.push_back(e.path());
      }
      std::sort(shards.begin(), shards.end());
    }
    if (shards.empty()) {
      throw Error(path_str + ": directory has no model.safetensors, model.safetensors.index.json or model-*-of-*.safetensors");
    }
  } else if (fs::exists(path, ec)) {
    dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    shards.push_back(path);
  } else {
    throw Error(path_str + ": no such file or directory");
  }

  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path)) {
    throw Error(config_path.string() + ": missing (a safetensors checkpoint needs its Hugging Face config.json)");
  }
  const auto cj = read_json(config_path);
  // RoPE scaling changes the rotation frequencies; running without it would silently be wrong.
  if (auto it = cj.find("rope_scaling"); it != cj.end() && !it->is_null()) {
    std::string type = "unknown";
    if (it->is_object()) {
      if (it->contains("rope_type") && (*it)["rope_type"].is_string()) type = (*it)["rope_type"];
      else if (it->contains("type") && (*it)["type"].is_string()) type = (*it)["type"];
    }
    if (type != "default") {
      throw Error(config_path.string() + ": rope_scaling type '" + type + "' is not supported yet");
    }
  }
  try {
    config_ = model_config_from_json(cj);
  } catch (const Error& e) {
    throw Error(config_path.string() + ": " + e.what());
  }
  if (!cj.contains("name")) config_.name = fs::absolute(dir).lexically_normal().filename().string();
  config_.rope_style = RopeStyle::Half;  // HF weights are not permuted: rotate_half pairs

  for (const auto& s : shards) {
    files_.push_back(SafetensorsFile::open(s.string()));
    const SafetensorsFile* f = files_.back().get();
    for (const auto& [hf_name, info] : f->tensors()) {
      const std::string canon = hf_to_canonical_name(hf_name);
      if (canon.empty()) continue;
      if (index_.count(canon) != 0) throw Error(s.string() + ": tensor " + hf_name + " appears in two shards");
      index_[canon] = Entry{f, &info};
    }
  }
  // tie_word_embeddings is a hint; what decides is whether lm_head is stored.
  if (!config_.tied_embeddings && index_.count("output.weight") == 0) {
    throw Error(path_str + ": config.json says tie_word_embeddings=false but lm_head.weight is missing");
  }
  config_.tied_embeddings = index_.count("output.weight") == 0;
  for (const auto& [name, shape] : llama_tensor_shapes(config_)) {
    auto it = index_.find(name);
    if (it == index_.end()) throw Error(path_str + ": tensor " + name + " (Hugging Face name) is missing");
    if (it->second.info->shape != shape) {
      throw Error(it->second.file->path() + ": tensor " + it->second.info->name + " has shape " +
                  shape_str(it->second.info->shape) + ", expected " + shape_str(shape) + " from config.json");
    }
    const auto& d = it->second.info->dtype;
    if (d != "F32" && d != "F16" && d != "BF16") {
      throw Error(it->second.file->path() + ": tensor " + it->second.info->name + " has dtype " + d +
                  ", skv reads F32, F16 and BF16 weights");
    }
  }
  // Identity: the path + a sampled content hash of every shard.
  uint64_t h = 0;
  for (const auto& f : files_) h = h * 1099511628211ull ^ f->sampled_hash();
  static const char* hex = "0123456789abcdef";
  std::string hs(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) hs[i] = hex[h & 15];
  identity_ = "safetensors:" + fs::absolute(path).lexically_normal().string() + "#" + hs;
}

HostTensor SafetensorsWeightSource::load(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error("safetensors checkpoint has no tensor " + name);
  HostTensor t;
  t.shape = it->second.info->shape;
  t.data = it->second.file->to_float(*it->second.info);
  return t;
}

std::vector<TensorDescription> SafetensorsWeightSource::describe() const {
  std::vector<TensorDescription> out;
  for (const auto& [name, e] : index_) {
    out.push_back({name, e.info->shape, e.info->dtype, e.info->end - e.info->begin});
  }
  return out;
}

}  // namespace skv
