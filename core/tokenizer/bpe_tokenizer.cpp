#include "core/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <queue>

#include "core/common/error.h"
#include "core/tokenizer/byte_level_encoding.h"
#include "core/tokenizer/pretokenizer.h"

namespace skv {

struct BpeTokenizer::Impl {
  TokenizerData data;
  PreTokenizer pre;
  std::unordered_map<std::string, int32_t> token_to_id;
  // Key: left + '\0' + right (byte-level text never holds NUL: byte 0 maps to U+0100).
  std::unordered_map<std::string, int32_t> merge_rank;
  std::vector<std::string> id_bytes;  // raw bytes each id decodes to
  std::vector<uint8_t> special;       // control or user-defined
  std::vector<uint8_t> end_of_generation;
  // Special tokens grouped by first byte, longest first, for literal matching in encode.
  std::array<std::vector<int32_t>, 256> specials_by_first_byte;

  explicit Impl(TokenizerData d) : data(std::move(d)), pre(data.pre) {}

  int32_t n_vocab() const { return static_cast<int32_t>(data.tokens.size()); }
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;
};

namespace {

std::string merge_key(std::string_view a, std::string_view b) {
  std::string k;
  k.reserve(a.size() + b.size() + 1);
  k.append(a).push_back('\0');
  k.append(b);
  return k;
}

size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;  // stray continuation byte: cannot occur in byte-level text, stay total anyway
}

// Token texts llama.cpp also treats as end of generation (llama-vocab.cpp, special_eog_ids).
constexpr std::array<std::string_view, 9> kEndOfGenerationTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>"};

}  // namespace

BpeTokenizer::BpeTokenizer(TokenizerData data) {
  auto impl = std::make_shared<Impl>(std::move(data));
  auto& d = impl->data;
  const int32_t n = impl->n_vocab();
  if (n == 0) throw Error("tokenizer has an empty vocabulary");
  if (!d.token_types.empty() && static_cast<int32_t>(d.token_types.size()) != n)
    throw Error("tokenizer has " + std::to_string(d.token_types.size()) + " token types for " +
                std::to_string(n) + " tokens");
  for (int32_t id : {d.bos_id, d.eos_id, d.unk_id, d.pad_id})
    if (id < -1 || id >= n)
      throw Error("tokenizer special id " + std::to_string(id) + " is outside the vocabulary of " +
                  std::to_string(n));

  impl->token_to_id.reserve(n);
  impl->id_bytes.resize(n);
  impl->special.assign(n, 0);
  impl->end_of_generation.assign(n, 0);
  for (int32_t id = 0; id < n; ++id) {
    const std::string& text = d.tokens[id];
    impl->token_to_id.emplace(text, id);  // first id wins on duplicates, like llama.cpp
    const int32_t type = d.token_types.empty() ? kTokenNormal : d.token_types[id];
    const bool is_special = type == kTokenControl || type == kTokenUserDefined;
    impl->special[id] = is_special;
    if (is_special) {
      impl->id_bytes[id] = text;  // added tokens are stored as plain text, not byte-level
      if (!text.empty())
        impl->specials_by_first_byte[static_cast<unsigned char>(text[0])].push_back(id);
    } else {
      auto bytes = byte_level_to_bytes(text);
      impl->id_bytes[id] = bytes ? std::move(*bytes) : text;
    }
    if (std::find(kEndOfGenerationTexts.begin(), kEndOfGenerationTexts.end(), text) !=
        kEndOfGenerationTexts.end())
      impl->end_of_generation[id] = 1;
  }
  if (d.eos_id >= 0) impl->end_of_generation[d.eos_id] = 1;
  for (auto& group : impl->specials_by_first_byte)
    std::stable_sort(group.begin(), group.end(), [&](int32_t a, int32_t b) {
      return d.tokens[a].size() > d.tokens[b].size();
    });

  int32_t rank = 0;
  impl->merge_rank.reserve(d.merges.size() + d.merge_pairs.size());
  for (const auto& m : d.merges) {
    // Split at the first space after the first character, as llama.cpp does.
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos)
      throw Error("tokenizer merge " + std::to_string(rank) + " '" + m + "' is not of the form 'a b'");
    impl->merge_rank.emplace(merge_key(std::string_view(m).substr(0, sp), std::string_view(m).substr(sp + 1)), rank++);
  }
  for (const auto& [a, b] : d.merge_pairs) impl->merge_rank.emplace(merge_key(a, b), rank++);
  impl_ = std::move(impl);
}

// BPE on one pre-token. Symbols form a linked list; a min-heap holds candidate merges ordered
// by (rank, left position) - Hugging Face's merge order. Entries made stale by an earlier merge
// are recognised by their recorded lengths and skipped: O(n log n) even for long whitespace runs.
void BpeTokenizer::Impl::encode_piece(std::string_view raw, std::vector<int32_t>& out) const {
  const std::string word = bytes_to_byte_level(raw);
  if (data.ignore_merges) {
    if (auto it = token_to_id.find(word); it != token_to_id.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Symbol {
    size_t start, len;
    int prev, next;
  };
  std::vector<Symbol> sym;
  for (size_t i = 0; i < word.size();) {
    const size_t len = std::min(utf8_len(static_cast<unsigned char>(word[i])), word.size() - i);
    sym.push_back({i, len, static_cast<int>(sym.size()) - 1, static_cast<int>(sym.size()) + 1});
    i += len;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  struct Candidate {
    int32_t rank;
    int left;
    size_t left_len, right_len;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto try_push = [&](int left) {
    if (left < 0 || sym[left].next < 0) return;
    const Symbol& a = sym[left];
    const Symbol& b = sym[a.next];
    auto it = merge_rank.find(merge_key(std::string_view(word).substr(a.start, a.len),
                                        std::string_view(word).substr(b.start, b.len)));
    if (it != merge_rank.end()) heap.push({it->second, left, a.len, b.len});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) try_push(i);

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& a = sym[c.left];
    if (a.len != c.left_len || a.next < 0) continue;  // left symbol merged away or grown
    Symbol& b = sym[a.next];
    if (b.len != c.right_len) continue;               // right symbol grew since the push
    a.len += b.len;
    b.len = 0;  // dead
    a.next = b.next;
    if (a.next >= 0) sym[a.next].prev = c.left;
    try_push(a.prev);
    try_push(c.left);
  }

  for (int i = 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = std::string_view(word).substr(sym[i].start, sym[i].len);
    if (auto it = token_to_id.find(std::string(piece)); it != token_to_id.end()) {
      out.push_back(it->second);
      continue;
    }
    // Not in the vocabulary: one token per byte-level symbol; a byte without a token is dropped,
    // as Hugging Face (without unk_token) and llama.cpp do. SmolLM2's vocabulary lacks 21 bytes
    // (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2, 0xF5-0xFF), which therefore
    // cannot round-trip. unk is not used: in GGUFs it is often <|endoftext|>, which would end
    // the document in the middle of a prompt.
    for (size_t k = 0; k < piece.size();) {
      const size_t len = std::min(utf8_len(static_cast<unsigned char>(piece[k])), piece.size() - k);
      if (auto it = token_to_id.find(std::string(piece.substr(k, len))); it != token_to_id.end())
        out.push_back(it->second);
      k += len;
    }
  }
}

void BpeTokenizer::Impl::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  for (auto piece : pre.split(text)) encode_piece(piece, out);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool parse_special) const {
  const Impl& im = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (im.data.add_bos && im.data.bos_id >= 0) out.push_back(im.data.bos_id);
  if (!parse_special) {
    im.encode_ordinary(text, out);
    return out;
  }
  size_t run_start = 0;
  for (size_t i = 0; i < text.size();) {
    int32_t hit = -1;
    for (int32_t id : im.specials_by_first_byte[static_cast<unsigned char>(text[i])]) {
      const std::string& t = im.data.tokens[id];
      if (text.compare(i, t.size(), t) == 0) {
        hit = id;
        break;  // longest first
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    im.encode_ordinary(text.substr(run_start, i - run_start), out);
    out.push_back(hit);
    i += im.data.tokens[hit].size();
    run_start = i;
  }
  im.encode_ordinary(text.substr(run_start), out);
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= impl_->n_vocab())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                std::to_string(impl_->n_vocab()) + ")");
  return impl_->id_bytes[id];
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= impl_->n_vocab())
      throw Error("cannot decode token id " + std::to_string(id) + ": outside the vocabulary [0, " +
                  std::to_string(impl_->n_vocab()) + ")");
    out += impl_->id_bytes[id];
  }
  return out;
}

int32_t BpeTokenizer::token_id(const std::string& token_text) const {
  auto it = impl_->token_to_id.find(token_text);
  return it == impl_->token_to_id.end() ? -1 : it->second;
}

int32_t BpeTokenizer::vocab_size() const { return impl_->n_vocab(); }
int32_t BpeTokenizer::bos_id() const { return impl_->data.bos_id; }
int32_t BpeTokenizer::eos_id() const { return impl_->data.eos_id; }
const TokenizerData& BpeTokenizer::data() const { return impl_->data; }

bool BpeTokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab() && impl_->end_of_generation[id];
}

bool BpeTokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab() && impl_->special[id];
}

bool BpeTokenizer::has_byte_token(uint8_t byte) const {
  return impl_->token_to_id.count(bytes_to_byte_level(std::string_view(reinterpret_cast<const char*>(&byte), 1))) != 0;
}

const std::string& BpeTokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= impl_->n_vocab())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                std::to_string(impl_->n_vocab()) + ")");
  return impl_->data.tokens[id];
}

std::string BpeTokenizer::apply_chat_template(const std::vector<ChatMessage>& messages,
                                              bool add_generation_prompt) const {
  return render_chat(parse_chat_template(impl_->data.chat_template), messages, add_generation_prompt);
}

}  // namespace skv
