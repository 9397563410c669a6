// BpeTokenizer::from_tokenizer_json: Hugging Face tokenizers' serialized form (tokenizer.json),
// plus tokenizer_config.json beside it for what tokenizer.json does not carry (bos/eos names,
// add_bos_token, chat_template).
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace skv {
namespace {

using nlohmann::json;

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

// Maps tokenizer.json's pre_tokenizer to one of our PreTokenizer names.
std::string pre_tokenizer_name(const json& pre) {
  auto is_byte_level = [](const json& p) {
    return p.is_object() && p.value("type", "") == "ByteLevel" && p.value("use_regex", true);
  };
  auto is_single_digits = [](const json& p) {
    return p.is_object() && p.value("type", "") == "Digits" && p.value("individual_digits", false);
  };
  if (is_byte_level(pre)) return "gpt2";
  if (pre.is_object() && pre.value("type", "") == "Sequence") {
    const json& seq = pre.at("pretokenizers");
    if (seq.size() == 2 && is_single_digits(seq[0]) && is_byte_level(seq[1])) return "smollm";
    if (seq.size() == 1 && is_byte_level(seq[0])) return "gpt2";
  }
  throw Error("unsupported pre_tokenizer " + pre.dump().substr(0, 160) +
              ": only ByteLevel and Sequence[Digits(individual_digits), ByteLevel] are implemented");
}

// tokenizer_config.json names tokens as a string or as {"content": ...}.
std::string token_name(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v.at("content").get<std::string>();
  return "";
}

}  // namespace

BpeTokenizer BpeTokenizer::from_tokenizer_json(const std::string& path_str) {
  const std::filesystem::path path(path_str);
  const json j = read_json(path);
  try {
    const json& model = j.at("model");
    if (model.value("type", "BPE") != "BPE")
      throw Error("model type '" + model.value("type", "") + "' is not supported (only BPE)");
    if (j.contains("normalizer") && !j.at("normalizer").is_null())
      throw Error("normalizers are not supported (normalizer " + j.at("normalizer").value("type", "?") + ")");
    if (model.value("byte_fallback", false))
      throw Error("byte_fallback BPE (SentencePiece style) is not supported, only byte-level BPE");

    TokenizerData d;
    d.pre = pre_tokenizer_name(j.contains("pre_tokenizer") ? j.at("pre_tokenizer") : json());
    d.ignore_merges = model.value("ignore_merges", false);

    // Vocabulary: model.vocab plus added_tokens (which may extend it); ids must end up dense.
    std::vector<std::pair<std::string, int64_t>> entries;
    for (const auto& [text, id] : model.at("vocab").items()) entries.emplace_back(text, id.get<int64_t>());
    std::vector<std::pair<int64_t, int32_t>> types;  // id -> type, for added tokens
    if (j.contains("added_tokens"))
      for (const json& t : j.at("added_tokens")) {
        const int64_t id = t.at("id").get<int64_t>();
        entries.emplace_back(t.at("content").get<std::string>(), id);
        types.emplace_back(id, t.value("special", false) ? kTokenControl : kTokenUserDefined);
      }
    int64_t n = 0;
    for (const auto& e : entries) {
      if (e.second < 0 || e.second >= (int64_t{1} << 24)) throw Error("token id " + std::to_string(e.second) + " out of range");
      n = std::max(n, e.second + 1);
    }
    d.tokens.assign(n, std::string());
    d.token_types.assign(n, kTokenUndefined);
    for (auto& [text, id] : entries) {
      d.tokens[id] = std::move(text);
      d.token_types[id] = kTokenNormal;
    }
    for (const auto& [id, type] : types) d.token_types[id] = type;
    for (int64_t id = 0; id < n; ++id)
      if (d.token_types[id] == kTokenUndefined) throw Error("token id " + std::to_string(id) + " is missing from the vocabulary");

    for (const json& m : model.at("merges")) {
      if (m.is_string()) {
        d.merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2) {
        // Newer tokenizers (>= 0.20) write pairs so that tokens may contain spaces.
        d.merge_pairs.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        throw Error("merge " + m.dump() + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
    if (!d.merges.empty() && !d.merge_pairs.empty())
      throw Error("merges mix \"a b\" strings and [a, b] pairs");

    auto id_of = [&d](const std::string& name) -> int32_t {
      if (name.empty()) return -1;
      for (size_t i = 0; i < d.tokens.size(); ++i)
        if (d.tokens[i] == name) return static_cast<int32_t>(i);
      return -1;
    };
    if (model.contains("unk_token") && model.at("unk_token").is_string())
      d.unk_id = id_of(model.at("unk_token").get<std::string>());

    const auto config_path = path.parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(config_path)) {
      const json c = read_json(config_path);
      if (c.contains("bos_token")) d.bos_id = id_of(token_name(c.at("bos_token")));
      if (c.contains("eos_token")) d.eos_id = id_of(token_name(c.at("eos_token")));
      if (c.contains("pad_token")) d.pad_id = id_of(token_name(c.at("pad_token")));
      if (c.contains("unk_token")) d.unk_id = id_of(token_name(c.at("unk_token")));
      d.add_bos = c.value("add_bos_token", false);
      if (c.contains("chat_template")) {
        const json& t = c.at("chat_template");
        if (t.is_string()) {
          d.chat_template = t.get<std::string>();
        } else if (t.is_array()) {  // [{"name": "default", "template": ...}, ...]
          for (const json& named : t)
            if (named.value("name", "") == "default") d.chat_template = named.value("template", "");
        }
      }
    } else {
      // No config: the GPT-2 convention, one <|endoftext|> for both.
      d.eos_id = id_of("<|endoftext|>");
      d.bos_id = d.eos_id;
    }
    return BpeTokenizer(std::move(d));
  } catch (const json::exception& e) {
    throw Error(path.string() + ": unexpected tokenizer.json layout (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error(path.string() + ": " + e.what());
  }
}

}  // namespace skv
