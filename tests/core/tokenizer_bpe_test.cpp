// BpeTokenizer against ids from the model's own files: tests/core/data/tokenizer_cases.json holds
// Hugging Face tokenizers' encoding of tricky strings with the GGUF's vocab and merges
// (scripts/make_tokenizer_fixture.py), so a wrong pre-tokenizer regex, merge order or special-token
// split shows up as an id mismatch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/gguf_reader.h"
#include "core/model/weight_source.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace skv {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path data_dir() { return fs::path(__FILE__).parent_path() / "data"; }

json load_cases() {
  std::ifstream in(data_dir() / "tokenizer_cases.json");
  EXPECT_TRUE(in) << "missing fixture; run scripts/make_tokenizer_fixture.py";
  return json::parse(in);
}

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += std::string{d[c >> 4], d[c & 15], ' '};
  return out;
}

// What decode(encode(s)) gives: s less the bytes the vocabulary has no token for.
std::string without_untokenizable_bytes(const BpeTokenizer& tok, std::string_view s) {
  std::string out;
  for (char c : s)
    if (tok.has_byte_token(static_cast<uint8_t>(c))) out.push_back(c);
  return out;
}

void expect_matches_reference(const BpeTokenizer& tok, const json& cases) {
  int checked = 0;
  for (const json& c : cases.at("cases")) {
    const std::string text = c.at("text");
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(text, c.at("parse_special").get<bool>()), expected) << "text: " << text;
    EXPECT_EQ(tok.decode(expected), without_untokenizable_bytes(tok, text)) << "text: " << text;
    ++checked;
  }
  EXPECT_GE(checked, 40);
}

class SmolLm2Tokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    json_tok_ = std::make_unique<BpeTokenizer>(
        BpeTokenizer::from_tokenizer_json((data_dir() / "tokenizer_smollm2.json").string()));
  }
  static void TearDownTestSuite() { json_tok_.reset(); }
  static std::unique_ptr<BpeTokenizer> json_tok_;
};
std::unique_ptr<BpeTokenizer> SmolLm2Tokenizer::json_tok_;

TEST_F(SmolLm2Tokenizer, TokenizerJsonEncodesLikeHuggingFaceReference) {
  const json cases = load_cases();
  ASSERT_EQ(json_tok_->vocab_size(), cases.at("vocab_size").get<int32_t>());
  expect_matches_reference(*json_tok_, cases);
}

TEST_F(SmolLm2Tokenizer, GgufEncodesLikeHuggingFaceReference) {
  std::string path;
  try {
    path = default_model_path();
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  const auto gguf = GgufFile::open(path);
  const BpeTokenizer tok = BpeTokenizer::from_gguf(*gguf);
  const json cases = load_cases();
  EXPECT_EQ(tok.vocab_size(), 49152);
  EXPECT_EQ(tok.bos_id(), cases.at("bos_id").get<int32_t>());
  EXPECT_EQ(tok.eos_id(), cases.at("eos_id").get<int32_t>());
  EXPECT_FALSE(tok.data().add_bos);
  expect_matches_reference(tok, cases);
  // Chat rendering from the GGUF's own template, against jinja2's rendering of it.
  for (const json& chat : cases.at("chats")) {
    std::vector<ChatMessage> messages;
    for (const json& m : chat.at("messages")) messages.push_back({m.at("role"), m.at("content")});
    EXPECT_EQ(tok.apply_chat_template(messages, chat.at("add_generation_prompt")), chat.at("text").get<std::string>());
  }
}

TEST_F(SmolLm2Tokenizer, HandPickedVocabularyEntries) {
  const BpeTokenizer& tok = *json_tok_;
  // Single-token words: the id is the vocab entry itself ("Ġ" is GPT-2's byte-level space).
  EXPECT_EQ(tok.encode("Hello"), std::vector<int32_t>{tok.token_id("Hello")});
  EXPECT_EQ(tok.encode(" world"), std::vector<int32_t>{tok.token_id("Ġworld")});
  EXPECT_EQ(tok.encode("\n"), std::vector<int32_t>{tok.token_id("Ċ")});
  EXPECT_NE(tok.token_id("Hello"), -1);
  EXPECT_EQ(tok.token_id("no such token text"), -1);
  // Digits are split one by one: "12345" is five single-digit tokens.
  EXPECT_EQ(tok.encode("12345"), (std::vector<int32_t>{tok.token_id("1"), tok.token_id("2"), tok.token_id("3"),
                                                        tok.token_id("4"), tok.token_id("5")}));
  EXPECT_EQ(tok.token_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok.token_id("<|im_start|>"), 1);
  EXPECT_EQ(tok.token_id("<|im_end|>"), 2);
  EXPECT_EQ(tok.encode("<|im_end|>"), std::vector<int32_t>{2});
  EXPECT_EQ(tok.token_bytes(tok.token_id("Ġworld")), " world");
  EXPECT_EQ(tok.token_text(tok.token_id("Ġworld")), "Ġworld");
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_FALSE(tok.is_special(tok.token_id("Hello")));
  EXPECT_TRUE(tok.is_end_of_generation(2));   // <|im_end|>
  EXPECT_TRUE(tok.is_end_of_generation(0));   // <|endoftext|>
  EXPECT_FALSE(tok.is_end_of_generation(1));  // <|im_start|>
  EXPECT_FALSE(tok.is_end_of_generation(tok.token_id("Hello")));
}

TEST_F(SmolLm2Tokenizer, SpecialTokenTextIsOrdinaryWhenNotParsed) {
  const BpeTokenizer& tok = *json_tok_;
  const auto ids = tok.encode("<|im_start|>user", /*parse_special=*/false);
  for (int32_t id : ids) EXPECT_FALSE(tok.is_special(id)) << id;
  EXPECT_EQ(tok.decode(ids), "<|im_start|>user");
  EXPECT_EQ(tok.encode("<|im_start|>user", true).front(), 1);
}

TEST_F(SmolLm2Tokenizer, RoundTripsInvalidUtf8ByteExact) {
  const BpeTokenizer& tok = *json_tok_;
  for (std::string s : {std::string("\x80\xbf"), std::string("ok\x80 mid\xc3"), std::string("\xe6\x97"),
                        std::string("a\0b", 3), std::string("\xed\xa0\x80 surrogate"), std::string("\xc3\x28"),
                        std::string("\xf0\x9f\x98 cut emoji"), std::string("\xf4\x90\x80\x80 above U+10FFFF")}) {
    const auto ids = tok.encode(s);
    EXPECT_EQ(tok.decode(ids), s) << hex(s);
  }
}

TEST_F(SmolLm2Tokenizer, BytesWithoutTokensAreDroppedLikeHuggingFace) {
  const BpeTokenizer& tok = *json_tok_;
  // SmolLM2's vocabulary has 235 of the 256 byte tokens.
  int missing = 0;
  for (int b = 0; b < 256; ++b) missing += !tok.has_byte_token(static_cast<uint8_t>(b));
  EXPECT_EQ(missing, 21);
  EXPECT_FALSE(tok.has_byte_token(0xFF));
  EXPECT_FALSE(tok.has_byte_token(0x04));
  EXPECT_TRUE(tok.has_byte_token('a'));
  EXPECT_TRUE(tok.has_byte_token(0x80));
  EXPECT_EQ(tok.decode(tok.encode("x\xff\xfey")), "xy");
  EXPECT_EQ(tok.encode("\x04"), std::vector<int32_t>{});
}

TEST_F(SmolLm2Tokenizer, RoundTripsRandomBytesAndRandomText) {
  const BpeTokenizer& tok = *json_tok_;
  std::vector<char> bytes;  // every byte value that has a token
  for (int b = 0; b < 256; ++b)
    if (tok.has_byte_token(static_cast<uint8_t>(b))) bytes.push_back(static_cast<char>(b));
  std::mt19937 rng(1234);
  const std::vector<std::string> alphabet = {"a", "Z", " ", "  ", "\n", "\t", "7", ".", "'s", "é", "日", "😀",
                                             "<|im_end|>", "<|im", "\x80", "\xc3", "\xe6", "ß", "\r\n"};
  for (int round = 0; round < 200; ++round) {
    std::string s;
    const int len = static_cast<int>(rng() % 40);
    if (round % 2 == 0) {
      for (int i = 0; i < len; ++i) s.push_back(bytes[rng() % bytes.size()]);
    } else {
      for (int i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    }
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << hex(s);
    EXPECT_EQ(tok.decode(tok.encode(s, false)), s) << hex(s);
  }
}

TEST_F(SmolLm2Tokenizer, LongWhitespaceRunStaysFastAndExact) {
  const std::string s = std::string(20000, ' ') + "x" + std::string(5000, '\n');
  EXPECT_EQ(json_tok_->decode(json_tok_->encode(s)), s);
}

TEST_F(SmolLm2Tokenizer, DecodeRejectsIdsOutsideVocabulary) {
  EXPECT_THROW(json_tok_->decode({1, 49152}), Error);
  EXPECT_THROW(json_tok_->decode({-1}), Error);
  EXPECT_THROW(json_tok_->token_bytes(100000), Error);
}

// --- a small tokenizer.json, written by the test, with ids worked out by hand ------------------

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::path(SKV_TEST_TMP) / name) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& file, const json& j) const {
    std::ofstream(path / file) << j.dump();
    return (path / file).string();
  }
};

json tiny_tokenizer(bool pair_merges) {
  json vocab = {{"h", 0}, {"e", 1}, {"l", 2}, {"o", 3}, {"Ġ", 4}, {"w", 5}, {"r", 6}, {"d", 7},
                {"he", 8}, {"ll", 9}, {"hell", 10}, {"hello", 11}, {"Ġw", 12}, {"a", 13}, {"aa", 14},
                {"1", 15}, {"2", 16}, {"12", 17}};
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"a", "a"}, {"1", "2"}};
  json m = json::array();
  for (const auto& [a, b] : merges) m.push_back(pair_merges ? json::array({a, b}) : json(a + " " + b));
  return {{"version", "1.0"},
          {"added_tokens", {{{"id", 18}, {"content", "<|endoftext|>"}, {"special", true}},
                            {{"id", 19}, {"content", "<tool>"}, {"special", false}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "Sequence"},
                             {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}},
                                                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

TEST(TokenizerJson, SmallVocabularyEncodesAsWorkedOutByHand) {
  for (bool pairs : {false, true}) {
    TempDir dir(pairs ? "tok_json_pairs" : "tok_json_strings");
    const auto tok = BpeTokenizer::from_tokenizer_json(dir.write("tokenizer.json", tiny_tokenizer(pairs)));
    EXPECT_EQ(tok.vocab_size(), 20);
    // "hello" -> h e l l o -> he ll -> hell o -> hello; " world" -> Ġw o r l d.
    EXPECT_EQ(tok.encode("hello world"), (std::vector<int32_t>{11, 12, 3, 6, 2, 7})) << pairs;
    // Equal-rank merges go leftmost first: "aaa" -> [aa, a], not [a, aa].
    EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{14, 13}));
    // Digits are pre-split, so the "1 2" merge never applies across them.
    EXPECT_EQ(tok.encode("12"), (std::vector<int32_t>{15, 16}));
    EXPECT_EQ(tok.encode("he<|endoftext|><tool>"), (std::vector<int32_t>{8, 18, 19}));
    EXPECT_TRUE(tok.is_special(18));
    EXPECT_TRUE(tok.is_special(19));
    // No tokenizer_config.json: GPT-2 convention.
    EXPECT_EQ(tok.eos_id(), 18);
    EXPECT_TRUE(tok.is_end_of_generation(18));
    EXPECT_EQ(tok.decode({11, 12, 3, 6, 2, 7, 18}), "hello world<|endoftext|>");
  }
}

TEST(TokenizerJson, ReadsTokenizerConfigBeside) {
  TempDir dir("tok_json_config");
  json t = tiny_tokenizer(false);
  t["added_tokens"].push_back({{"id", 20}, {"content", "<|im_start|>"}, {"special", true}});
  t["added_tokens"].push_back({{"id", 21}, {"content", "<|im_end|>"}, {"special", true}});
  const std::string path = dir.write("tokenizer.json", t);
  dir.write("tokenizer_config.json",
            {{"bos_token", "<|im_start|>"}, {"eos_token", {{"content", "<|im_end|>"}}}, {"add_bos_token", true},
             {"chat_template", "{{ '<|im_start|>' + message['role'] + '\\n' }}"}});
  const auto tok = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(tok.bos_id(), 20);
  EXPECT_EQ(tok.eos_id(), 21);
  EXPECT_EQ(tok.encode("hello"), (std::vector<int32_t>{20, 11}));  // add_bos
  EXPECT_EQ(tok.apply_chat_template({{"user", "hi"}}, true), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(TokenizerJson, RejectsWhatItCannotTokenize) {
  TempDir dir("tok_json_errors");
  auto expect_error = [&](const json& j, const std::string& needle) {
    const std::string path = dir.write("tokenizer.json", j);
    try {
      BpeTokenizer::from_tokenizer_json(path);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    }
  };
  json wordpiece = tiny_tokenizer(false);
  wordpiece["model"]["type"] = "WordPiece";
  expect_error(wordpiece, "WordPiece");
  json metaspace = tiny_tokenizer(false);
  metaspace["pre_tokenizer"] = {{"type", "Metaspace"}};
  expect_error(metaspace, "Metaspace");
  json bad_merge = tiny_tokenizer(false);
  bad_merge["model"]["merges"].push_back("nospace");
  expect_error(bad_merge, "nospace");
  json hole = tiny_tokenizer(false);
  hole["added_tokens"][1]["id"] = 25;
  expect_error(hole, "missing");
  expect_error(json::array(), "layout");
  EXPECT_THROW(BpeTokenizer::from_tokenizer_json((dir.path / "absent.json").string()), Error);
}

TEST(TokenizerData, RejectsInconsistentData) {
  TokenizerData d;
  EXPECT_THROW(BpeTokenizer{d}, Error);  // empty vocabulary
  d.tokens = {"a", "b"};
  d.token_types = {1};
  EXPECT_THROW(BpeTokenizer{d}, Error);  // type count
  d.token_types.clear();
  d.eos_id = 7;
  EXPECT_THROW(BpeTokenizer{d}, Error);  // id out of range
  d.eos_id = -1;
  d.pre = "llama3";
  try {
    BpeTokenizer{d};
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama3"), std::string::npos);
  }
}

}  // namespace
}  // namespace skv
