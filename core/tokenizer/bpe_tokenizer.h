#pragma once
// Byte-level BPE (GPT-2 family) with the model's pre-tokenizer, special tokens and chat template.
// Built from plain data so that GGUF files and tokenizer.json both feed it.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class BpeTokenizer {
 public:
  explicit BpeTokenizer(TokenizerData data);
  static BpeTokenizer from_gguf(const GgufFile& gguf);             // tokenizer.ggml.* keys
  static BpeTokenizer from_tokenizer_json(const std::string& path);  // Hugging Face tokenizer.json

  // Special tokens (control / user-defined) in `text` map to their ids when parse_special.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  std::string decode(const std::vector<int32_t>& ids) const;       // exact bytes
  std::string token_bytes(int32_t id) const;                       // one token's raw bytes
  int32_t token_id(const std::string& token_text) const;           // -1 if absent
  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  bool is_end_of_generation(int32_t id) const;                     // eos, <|im_end|>, ...
  // Renders the model's chat template (ChatML family); throws skv::Error for templates we cannot render.
  std::string apply_chat_template(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace skv
