#pragma once
// Pre-tokenization: splits text into the pieces BPE runs on, as a chain of regex stages. Each
// stage splits every piece of the previous stage into its matches and the gaps between them
// (both kept: Hugging Face's "Isolated" behaviour, llama.cpp's unicode_regex_split), so the
// pieces always concatenate back to the input. Regexes run in PCRE2 with UTF + UCP, so \p{L},
// \p{N} and \s follow the Unicode tables of the installed PCRE2, not hand-written ones. Invalid
// UTF-8 never matches (PCRE2_MATCH_INVALID_UTF): such bytes end up as gap pieces of their own.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace skv {

class PreTokenizer {
 public:
  // `name` is llama.cpp's tokenizer.ggml.pre: "smollm" (every digit alone, then GPT-2's regex) or
  // "gpt2" (GPT-2's regex only). Throws skv::Error for any other name.
  explicit PreTokenizer(const std::string& name);
  // Pieces are views into `text`, in order, never empty, and concatenate to `text`.
  std::vector<std::string_view> split(std::string_view text) const;
  const std::string& name() const { return name_; }

  // The regexes, exposed for tests and for tokenizer.json pre_tokenizer matching.
  static const char* gpt2_pattern();
  static const char* single_digit_pattern();

 private:
  struct Regex;
  std::string name_;
  std::vector<std::shared_ptr<const Regex>> stages_;
};

}  // namespace skv
