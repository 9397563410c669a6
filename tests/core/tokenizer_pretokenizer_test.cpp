// The smollm pre-tokenizer and GPT-2's byte-level alphabet, against splits and code points
// worked out by hand from the regex and from openai/gpt-2 encoder.py's bytes_to_unicode.
#include <gtest/gtest.h>

#include <set>

#include "core/common/error.h"
#include "core/tokenizer/byte_level_encoding.h"
#include "core/tokenizer/pretokenizer.h"

namespace skv {
namespace {

std::vector<std::string> split(const PreTokenizer& p, std::string_view s) {
  std::vector<std::string> out;
  for (auto v : p.split(s)) out.emplace_back(v);
  return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizer, SmolLmSplitsWordsSpacesAndEveryDigit) {
  const PreTokenizer p("smollm");
  EXPECT_EQ(split(p, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(p, "3.14"), (V{"3", ".", "1", "4"}));
  EXPECT_EQ(split(p, "abc 12"), (V{"abc", " ", "1", "2"}));
  // A whitespace run gives its last space to the following word (\s+(?!\S)).
  EXPECT_EQ(split(p, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split(p, "end  \n"), (V{"end", "  \n"}));
  EXPECT_EQ(split(p, "I'm we'll"), (V{"I", "'m", " we", "'ll"}));
  EXPECT_EQ(split(p, "x+=1;"), (V{"x", "+=", "1", ";"}));
  EXPECT_EQ(split(p, "café 日本"), (V{"café", " 日本"}));
  EXPECT_EQ(split(p, "١٢"), (V{"١", "٢"}));  // Arabic-Indic digits are \p{N} too
  EXPECT_TRUE(p.split("").empty());
}

TEST(PreTokenizer, Gpt2KeepsDigitRunsTogether) {
  const PreTokenizer p("gpt2");
  EXPECT_EQ(split(p, "abc 12345"), (V{"abc", " 12345"}));
}

TEST(PreTokenizer, PiecesAlwaysConcatenateToTheInputEvenForInvalidUtf8) {
  const PreTokenizer p("smollm");
  for (std::string s : {std::string("\xff\xfe x"), std::string("ab\x80\x80 cd"), std::string("\xe6\x97 9"),
                        std::string("a\0b", 3), std::string(" \t\n  ")}) {
    std::string joined;
    for (auto v : p.split(s)) {
      EXPECT_FALSE(v.empty());
      joined += v;
    }
    EXPECT_EQ(joined, s);
  }
}

TEST(PreTokenizer, UnknownNameIsAnError) {
  try {
    PreTokenizer p("deepseek-llm");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("deepseek-llm"), std::string::npos);
  }
}

TEST(ByteLevelEncoding, MatchesGpt2BytesToUnicode) {
  EXPECT_EQ(bytes_to_byte_level(" "), "Ġ");   // U+0120
  EXPECT_EQ(bytes_to_byte_level("\n"), "Ċ");  // U+010A
  EXPECT_EQ(bytes_to_byte_level("\t"), "ĉ");  // U+0109
  EXPECT_EQ(bytes_to_byte_level("Az~!"), "Az~!");
  EXPECT_EQ(byte_to_code_point(0x00), 0x100u);
  EXPECT_EQ(byte_to_code_point(0x7F), 0x121u);  // after the 33 control bytes and space
  EXPECT_EQ(byte_to_code_point(0xAD), 0x143u);  // soft hyphen, the last unprintable byte
  EXPECT_EQ(byte_to_code_point(0xE9), 0xE9u);   // 'é' stays
  EXPECT_EQ(bytes_to_byte_level("é"), "Ã©");   // UTF-8 C3 A9 -> two symbols
}

TEST(ByteLevelEncoding, AllBytesRoundTripThroughDistinctSymbols) {
  std::set<uint32_t> seen;
  std::string all;
  for (int b = 0; b < 256; ++b) {
    seen.insert(byte_to_code_point(static_cast<uint8_t>(b)));
    all.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(byte_level_to_bytes(bytes_to_byte_level(all)), all);
  EXPECT_FALSE(byte_level_to_bytes("你").has_value());        // not in the alphabet
  EXPECT_FALSE(byte_level_to_bytes("\xc4").has_value());      // truncated UTF-8
  EXPECT_FALSE(byte_level_to_bytes(std::string(1, ' ')).has_value());  // ' ' is not a symbol (Ġ is)
}

}  // namespace
}  // namespace skv
