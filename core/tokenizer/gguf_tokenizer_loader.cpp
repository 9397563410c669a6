// BpeTokenizer::from_gguf: the tokenizer.ggml.* keys written by llama.cpp's convert_hf_to_gguf.py.
#include "core/common/error.h"
#include "core/model/gguf_reader.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace skv {
namespace {

int32_t optional_id(const GgufFile& g, const std::string& key) {
  return g.has(key) ? static_cast<int32_t>(g.get(key).as_int()) : -1;
}

}  // namespace

BpeTokenizer BpeTokenizer::from_gguf(const GgufFile& g) {
  const std::string where = g.path() + ": ";
  if (!g.has("tokenizer.ggml.model") || !g.has("tokenizer.ggml.tokens"))
    throw Error(where + "no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens missing)");
  const std::string& model = g.get("tokenizer.ggml.model").as_string();
  if (model != "gpt2")
    throw Error(where + "tokenizer model '" + model + "' is not supported (only byte-level BPE, 'gpt2')");
  TokenizerData d;
  d.tokens = g.get("tokenizer.ggml.tokens").as_string_array();
  if (g.has("tokenizer.ggml.token_type"))
    for (int64_t t : g.get("tokenizer.ggml.token_type").as_int_array()) d.token_types.push_back(static_cast<int32_t>(t));
  if (!g.has("tokenizer.ggml.merges")) throw Error(where + "byte-level BPE tokenizer without tokenizer.ggml.merges");
  d.merges = g.get("tokenizer.ggml.merges").as_string_array();
  // llama.cpp treats a missing pre as "default", which it then warns is likely wrong.
  d.pre = g.has("tokenizer.ggml.pre") ? g.get("tokenizer.ggml.pre").as_string() : "gpt2";
  d.bos_id = optional_id(g, "tokenizer.ggml.bos_token_id");
  d.eos_id = optional_id(g, "tokenizer.ggml.eos_token_id");
  d.unk_id = optional_id(g, "tokenizer.ggml.unknown_token_id");
  d.pad_id = optional_id(g, "tokenizer.ggml.padding_token_id");
  d.add_bos = g.has("tokenizer.ggml.add_bos_token") && g.get("tokenizer.ggml.add_bos_token").as_bool();
  if (g.has("tokenizer.chat_template")) d.chat_template = g.get("tokenizer.chat_template").as_string();
  try {
    return BpeTokenizer(std::move(d));
  } catch (const Error& e) {
    throw Error(where + e.what());
  }
}

}  // namespace skv
