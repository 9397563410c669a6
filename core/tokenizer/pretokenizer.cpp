#include "core/tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/common/error.h"

namespace skv {

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  std::string pattern;

  explicit Regex(const char* pat) : pattern(pat) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_offset, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error("pre-tokenizer regex does not compile at offset " + std::to_string(err_offset) +
                  ": " + reinterpret_cast<const char*>(msg) + " (PCRE2 built without Unicode?)");
    }
    // JIT is a speed-up only; PCRE2 builds without it fall back to the interpreter.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  ~Regex() { pcre2_code_free(code); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the matches of this regex in `piece` and the gaps between them to `out`.
  void split(std::string_view piece, pcre2_match_data* md, std::vector<std::string_view>& out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    size_t pos = 0, gap_start = 0;
    while (pos < piece.size()) {
      const int rc = pcre2_match(code, subject, piece.size(), pos, 0, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        throw Error(std::string("pre-tokenizer regex match failed: ") +
                    reinterpret_cast<const char*>(msg));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const size_t begin = ov[0], end = ov[1];
      if (end == begin) {  // our patterns cannot match empty; step past one byte to be safe
        pos = begin + 1;
        continue;
      }
      if (begin > gap_start) out.push_back(piece.substr(gap_start, begin - gap_start));
      out.push_back(piece.substr(begin, end - begin));
      pos = gap_start = end;
    }
    if (gap_start < piece.size()) out.push_back(piece.substr(gap_start));
  }
};

const char* PreTokenizer::gpt2_pattern() {
  // openai/gpt-2 encoder.py, as in Hugging Face's ByteLevel pre-tokenizer (use_regex=true).
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}

const char* PreTokenizer::single_digit_pattern() { return R"(\p{N})"; }

PreTokenizer::PreTokenizer(const std::string& name) : name_(name) {
  if (name == "smollm") {
    // llama.cpp LLAMA_VOCAB_PRE_TYPE_SMOLLM == HF Sequence[Digits(individual_digits), ByteLevel].
    stages_.push_back(std::make_shared<const Regex>(single_digit_pattern()));
    stages_.push_back(std::make_shared<const Regex>(gpt2_pattern()));
  } else if (name == "gpt2") {
    stages_.push_back(std::make_shared<const Regex>(gpt2_pattern()));
  } else {
    throw Error("unsupported pre-tokenizer '" + name + "': only 'smollm' and 'gpt2' are implemented");
  }
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(nullptr, &pcre2_match_data_free);
  for (const auto& stage : stages_) {
    md.reset(pcre2_match_data_create_from_pattern(stage->code, nullptr));
    if (!md) throw Error("out of memory creating PCRE2 match data");
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (auto piece : pieces) stage->split(piece, md.get(), next);
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace skv
