// BpeTokenizer::from_gguf on tiny GGUFs written by the test (gguf_test_writer.h): the
// tokenizer.ggml.* keys land where they should, and unsupported tokenizers are named in errors.
#include <gtest/gtest.h>

#include "core/common/error.h"
#include "core/model/gguf_reader.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "gguf_test_writer.h"

namespace skv {
namespace {

using W = test::GgufTestWriter;

W::Val strings(const std::vector<std::string>& v) {
  std::vector<W::Val> e;
  for (const auto& s : v) e.push_back(W::str(s));
  return W::array(8, e);
}

W::Val ints(const std::vector<int32_t>& v) {
  std::vector<W::Val> e;
  for (int32_t x : v) e.push_back(W::i32(x));
  return W::array(5, e);
}

// Vocabulary: 0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|> (control), then byte-level pieces.
W tokenizer_gguf(const std::string& model = "gpt2", bool with_merges = true, const std::string& pre = "smollm") {
  W w;
  w.kv("general.architecture", W::str("llama"));
  w.kv("tokenizer.ggml.model", W::str(model));
  w.kv("tokenizer.ggml.pre", W::str(pre));
  w.kv("tokenizer.ggml.tokens", strings({"<|endoftext|>", "<|im_start|>", "<|im_end|>", "h", "i", "Ġ", "t",
                                         "hi", "Ġt", "Ġthi", "1", "Ċ", "u", "s", "e", "r", "us", "er", "user"}));
  w.kv("tokenizer.ggml.token_type", ints({3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  if (with_merges) w.kv("tokenizer.ggml.merges", strings({"h i", "Ġ t", "Ġt hi", "u s", "e r", "us er"}));
  w.kv("tokenizer.ggml.bos_token_id", W::u32(1));
  w.kv("tokenizer.ggml.eos_token_id", W::u32(2));
  w.kv("tokenizer.ggml.unknown_token_id", W::u32(0));
  w.kv("tokenizer.ggml.add_bos_token", W::boolean(false));
  w.kv("tokenizer.chat_template",
       W::str("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
              "'<|im_end|>' + '\n'}}{% endfor %}"));
  return w;
}

std::unique_ptr<GgufFile> open(const W& w) {
  const std::string b = w.bytes();
  return GgufFile::open_memory(b.data(), b.size(), "tiny.gguf");
}

TEST(TokenizerGguf, KeysMapToTokenizerAsWorkedOutByHand) {
  const auto g = open(tokenizer_gguf());
  const BpeTokenizer tok = BpeTokenizer::from_gguf(*g);
  EXPECT_EQ(tok.vocab_size(), 19);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  // "hi thi1": "hi" -> [hi]; " thi" -> Ġ t h i -> Ġt, hi -> Ġthi; "1" alone.
  EXPECT_EQ(tok.encode("hi thi1"), (std::vector<int32_t>{7, 9, 10}));
  EXPECT_EQ(tok.encode("<|im_start|>user\n"), (std::vector<int32_t>{1, 18, 11}));
  EXPECT_EQ(tok.decode({1, 18, 11, 7, 2}), "<|im_start|>user\nhi<|im_end|>");
  EXPECT_TRUE(tok.is_end_of_generation(2));
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_EQ(tok.apply_chat_template({{"user", "hi"}}, true), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(TokenizerGguf, UnsupportedOrIncompleteTokenizersAreNamed) {
  auto expect_error = [](const W& w, const std::string& needle) {
    const auto g = open(w);
    try {
      BpeTokenizer::from_gguf(*g);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("tiny.gguf"), std::string::npos) << e.what();
    }
  };
  expect_error(tokenizer_gguf("llama"), "'llama'");  // SentencePiece vocabularies
  expect_error(tokenizer_gguf("gpt2", false), "merges");
  W no_tokenizer;
  no_tokenizer.kv("general.architecture", W::str("llama"));
  expect_error(no_tokenizer, "no tokenizer");
  expect_error(tokenizer_gguf("gpt2", true, "qwen2"), "qwen2");
}

}  // namespace
}  // namespace skv
