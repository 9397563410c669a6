#pragma once
// Byte-level BPE (GPT-2 family) with the model's pre-tokenizer, special tokens and chat template.
// Built from plain data so that GGUF files and tokenizer.json both feed it.
//
// encode: special tokens are cut out of the text first (longest match wins), every other span is
// pre-tokenized (pretokenizer.h), mapped to GPT-2's byte-level alphabet (byte_level_encoding.h)
// and merged by merge rank (lowest rank first, leftmost on ties: Hugging Face's BPE).
// decode(encode(s)) == s for any bytes, valid UTF-8 or not, whose byte tokens the vocabulary has;
// a byte without one is dropped, as Hugging Face and llama.cpp do (SmolLM2 lacks 21 of the 256:
// six ASCII control characters and bytes that valid UTF-8 almost never holds, see
// has_byte_token()).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tokenizer/chat_template.h"

namespace skv {

class GgufFile;

struct TokenizerData {
  std::vector<std::string> tokens;    // id -> token text in byte-level (GPT-2 unicode) form
  std::vector<int32_t> token_types;   // llama.cpp token types (1 normal, 3 control, 4 user-defined, ...); may be empty
  std::vector<std::string> merges;    // "a b" in priority order
  std::string pre = "smollm";         // pre-tokenizer name (llama.cpp's tokenizer.ggml.pre)
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  bool add_bos = false;
  std::string chat_template;          // Jinja source as shipped; we render the ChatML family
  // Merge pairs whose halves may contain spaces (tokenizer.json's [a, b] form); used after `merges`.
  std::vector<std::pair<std::string, std::string>> merge_pairs;
  bool ignore_merges = false;         // HF BPE option: a piece that is itself in the vocab is one token
};

// llama.cpp token types (llama_token_type).
enum TokenType : int32_t {
  kTokenUndefined = 0, kTokenNormal = 1, kTokenUnknown = 2, kTokenControl = 3,
  kTokenUserDefined = 4, kTokenUnused = 5, kTokenByte = 6,
};

class BpeTokenizer {
 public:
  // Throws skv::Error for inconsistent data (bad merges, ids out of range, unknown pre-tokenizer).
  explicit BpeTokenizer(TokenizerData data);
  static BpeTokenizer from_gguf(const GgufFile& gguf);             // tokenizer.ggml.* keys
  // Hugging Face tokenizer.json; a tokenizer_config.json beside it supplies bos/eos, add_bos and
  // the chat template when present.
  static BpeTokenizer from_tokenizer_json(const std::string& path);

  // Special tokens (control / user-defined) in `text` map to their ids when parse_special.
  // bos_id() is prepended when the model asks for it (add_bos; false for SmolLM2).
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  std::string decode(const std::vector<int32_t>& ids) const;       // exact bytes
  std::string token_bytes(int32_t id) const;                       // one token's raw bytes
  int32_t token_id(const std::string& token_text) const;           // -1 if absent
  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  bool is_end_of_generation(int32_t id) const;                     // eos, <|im_end|>, ...
  bool is_special(int32_t id) const;
  bool has_byte_token(uint8_t byte) const;                          // false: encode drops this byte                               // control or user-defined
  const std::string& token_text(int32_t id) const;                 // vocab form, e.g. "Ġthe"
  const TokenizerData& data() const;
  // Renders the model's chat template (ChatML family); throws skv::Error for templates we cannot render.
  std::string apply_chat_template(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace skv
