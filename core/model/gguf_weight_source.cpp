#include "core/model/gguf_weight_source.h"

#include <filesystem>

#include "core/common/error.h"

namespace skv {
namespace {

int64_t meta_int(const GgufFile& f, const std::string& key) {
  try {
    return f.get(key).as_int();
  } catch (const Error& e) {
    if (!f.has(key)) throw;
    throw Error(f.path() + ": metadata key '" + key + "': " + e.what());
  }
}

double meta_double(const GgufFile& f, const std::string& key, double fallback) {
  if (!f.has(key)) return fallback;
  try {
    return f.get(key).as_double();
  } catch (const Error& e) {
    throw Error(f.path() + ": metadata key '" + key + "': " + e.what());
  }
}

std::string meta_string(const GgufFile& f, const std::string& key) {
  try {
    return f.get(key).as_string();
  } catch (const Error& e) {
    if (!f.has(key)) throw;
    throw Error(f.path() + ": metadata key '" + key + "': " + e.what());
  }
}

// "SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct": the file name is what users
// recognise (general.name is often a converter's guess); a trailing quant tag is dropped.
std::string name_from_path(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) {
    const std::string tag = stem.substr(dot + 1);
    if (tag.size() >= 2 && (tag[0] == 'Q' || tag[0] == 'q' || tag.rfind("F16", 0) == 0 ||
                            tag.rfind("BF16", 0) == 0 || tag.rfind("F32", 0) == 0 ||
                            tag.rfind("IQ", 0) == 0)) {
      stem = stem.substr(0, dot);
    }
  }
  return stem;
}

// FNV-1a over the header and metadata plus 64 evenly spaced 4 KiB samples of the tensor data:
// cheap for multi-GB files, and any re-quantisation or different checkpoint changes it.
uint64_t sampled_hash(const GgufFile& f) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const uint8_t* p, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  };
  const uint64_t size = f.file_size();
  mix(reinterpret_cast<const uint8_t*>(&size), sizeof size);
  if (f.tensors().empty()) return h;
  const uint8_t* base = f.tensor_data(f.tensors().front()) - f.tensors().front().offset;  // data section
  const uint8_t* file_start = base - f.data_offset();
  mix(file_start, f.data_offset());
  const uint64_t data_size = size - f.data_offset();
  constexpr uint64_t kSamples = 64, kChunk = 4096;
  for (uint64_t s = 0; s < kSamples; ++s) {
    const uint64_t at = data_size * s / kSamples;
    mix(base + at, std::min(kChunk, data_size - at));
  }
  return h;
}

std::string hex64(uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = d[v & 15];
  return s;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> llama_tensor_shapes(const ModelConfig& c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  out.push_back({"token_embd.weight", {c.vocab_size, c.hidden}});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    out.push_back({p + "attn_norm.weight", {c.hidden}});
    out.push_back({p + "attn_q.weight", {q, c.hidden}});
    out.push_back({p + "attn_k.weight", {kv, c.hidden}});
    out.push_back({p + "attn_v.weight", {kv, c.hidden}});
    out.push_back({p + "attn_output.weight", {c.hidden, q}});
    out.push_back({p + "ffn_norm.weight", {c.hidden}});
    out.push_back({p + "ffn_gate.weight", {c.ffn_hidden, c.hidden}});
    out.push_back({p + "ffn_up.weight", {c.ffn_hidden, c.hidden}});
    out.push_back({p + "ffn_down.weight", {c.hidden, c.ffn_hidden}});
  }
  out.push_back({"output_norm.weight", {c.hidden}});
  if (!c.tied_embeddings) out.push_back({"output.weight", {c.vocab_size, c.hidden}});
  return out;
}

ModelConfig model_config_from_gguf(const GgufFile& f) {
  const std::string arch = f.has("general.architecture") ? meta_string(f, "general.architecture") : "";
  if (arch.empty()) throw Error(f.path() + ": metadata key 'general.architecture' is missing");
  if (arch != "llama") {
    throw Error(f.path() + ": architecture '" + arch +
                "' is not supported (skv runs llama-family GGUF files, general.architecture = llama)");
  }
  const std::string a = arch + ".";
  ModelConfig c;
  c.name = name_from_path(f.path());
  if (c.name.empty() && f.has("general.name")) c.name = meta_string(f, "general.name");
  c.architecture = arch;
  c.n_layers = meta_int(f, a + "block_count");
  c.hidden = meta_int(f, a + "embedding_length");
  c.ffn_hidden = meta_int(f, a + "feed_forward_length");
  c.n_heads = meta_int(f, a + "attention.head_count");
  c.n_kv_heads = f.has(a + "attention.head_count_kv") ? meta_int(f, a + "attention.head_count_kv") : c.n_heads;
  c.context_length = meta_int(f, a + "context_length");
  c.rope_theta = meta_double(f, a + "rope.freq_base", 10000.0);
  c.rms_eps = meta_double(f, a + "attention.layer_norm_rms_epsilon", 1e-5);
  if (f.has(a + "attention.key_length")) {
    c.head_dim = meta_int(f, a + "attention.key_length");
  } else if (c.n_heads > 0 && c.hidden % c.n_heads == 0) {
    c.head_dim = c.hidden / c.n_heads;
  } else {
    throw Error(f.path() + ": " + a + "embedding_length " + std::to_string(c.hidden) +
                " is not a multiple of the head count " + std::to_string(c.n_heads));
  }
  if (f.has(a + "rope.dimension_count") && meta_int(f, a + "rope.dimension_count") != c.head_dim) {
    throw Error(f.path() + ": " + a + "rope.dimension_count " +
                std::to_string(meta_int(f, a + "rope.dimension_count")) + " differs from head_dim " +
                std::to_string(c.head_dim) + " (partial rotary embeddings are not supported)");
  }
  if (f.has(a + "vocab_size")) {
    c.vocab_size = meta_int(f, a + "vocab_size");
  } else if (const auto* t = f.find_tensor("token_embd.weight"); t && t->ne.size() == 2) {
    c.vocab_size = static_cast<int64_t>(t->ne[1]);
  } else if (f.has("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<int64_t>(f.get("tokenizer.ggml.tokens").as_array().size());
  }
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  // llama.cpp's convert_hf_to_gguf.py permutes the q/k rows of HF Llama checkpoints so that
  // ggml's "normal" rope (adjacent pairs) reproduces HF's rotate_half.
  c.rope_style = RopeStyle::Interleaved;
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(f.path() + ": " + e.what());
  }
  return c;
}

GgufWeightSource::GgufWeightSource(const std::string& path) : file_(GgufFile::open(path)) {
  config_ = model_config_from_gguf(*file_);
  for (const auto& [name, shape] : llama_tensor_shapes(config_)) {
    const auto* t = file_->find_tensor(name);
    if (t == nullptr) throw Error(path + ": tensor " + name + " is missing");
    if (t->torch_shape() != shape) {
      std::string got, want;
      for (auto s : t->torch_shape()) got += (got.empty() ? "" : "x") + std::to_string(s);
      for (auto s : shape) want += (want.empty() ? "" : "x") + std::to_string(s);
      throw Error(path + ": tensor " + name + " has shape " + got + ", expected " + want +
                  " from the metadata");
    }
    const uint32_t id = static_cast<uint32_t>(t->type);
    if (!ggml_type_supported(id)) {
      throw Error(path + ": tensor " + name + " has ggml type " + std::to_string(id) + " (" +
                  ggml_type_name(id) + ") which skv cannot dequantize; supported: " +
                  ggml_supported_types_list());
    }
  }
  config_.checkpoint = hex64(sampled_hash(*file_));
  identity_ = "gguf:" + std::filesystem::absolute(path).lexically_normal().string() + "#" + config_.checkpoint;
}

bool GgufWeightSource::has(const std::string& name) const { return file_->find_tensor(name) != nullptr; }

HostTensor GgufWeightSource::load(const std::string& name) const {
  const auto* t = file_->find_tensor(name);
  if (t == nullptr) throw Error(file_->path() + ": tensor " + name + " is not in the file");
  HostTensor out;
  out.shape = t->torch_shape();
  out.data = file_->dequantize(*t);
  return out;
}

std::vector<TensorDescription> GgufWeightSource::describe() const {
  std::vector<TensorDescription> out;
  out.reserve(file_->tensors().size());
  for (const auto& t : file_->tensors()) {
    out.push_back({t.name, t.torch_shape(), ggml_type_name(static_cast<uint32_t>(t.type)), t.nbytes});
  }
  return out;
}

}  // namespace skv
