// GGUF reader: round trips through the test writer, and corrupt/truncated/hostile files that
// must end in skv::Error naming the problem, never a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "core/common/error.h"
#include "core/model/gguf_reader.h"
#include "core/gguf_test_writer.h"

using namespace skv;
using W = skv::test::GgufTestWriter;

namespace {

std::string tmp_path(const std::string& name) {
  std::filesystem::create_directories(SKV_TEST_TMP);
  return std::string(SKV_TEST_TMP) + "/" + name;
}

std::string message_of(const std::string& bytes) {
  try {
    GgufFile::open_memory(bytes.data(), bytes.size(), "mem.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A file with metadata and two tensors (F32 and Q8_0), the base for corruption tests.
W small_file() {
  W w;
  w.kv("general.architecture", W::str("llama"));
  w.kv("answer", W::u32(42));
  w.kv("list", W::array(4, {W::u32(1), W::u32(2), W::u32(3)}));
  w.tensor("a", {4, 2}, 0, test::f32_bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  std::string q8(34, '\0');
  q8[0] = 0x00;
  q8[1] = 0x3C;  // d = 1
  for (int j = 0; j < 32; ++j) q8[2 + j] = static_cast<char>(j - 3);
  w.tensor("b", {32}, 8, q8);
  return w;
}

}  // namespace

TEST(GgufReader, RoundTripsMetadataOfEveryValueType) {
  W w;
  w.kv("u8", W::u8(250));
  w.kv("i8", W::i8(-100));
  w.kv("u16", W::u16(65000));
  w.kv("i16", W::i16(-30000));
  w.kv("u32", W::u32(4000000000u));
  w.kv("i32", W::i32(-2000000000));
  w.kv("f32", W::f32(0.375f));
  w.kv("bool_t", W::boolean(true));
  w.kv("bool_f", W::boolean(false));
  w.kv("str", W::str("héllo \"gguf\""));
  w.kv("empty_str", W::str(""));
  w.kv("u64", W::u64(18000000000000000000ull));
  w.kv("i64", W::i64(-9000000000000000000ll));
  w.kv("f64", W::f64(-1.0e300));
  w.kv("arr_str", W::array(8, {W::str("a"), W::str(""), W::str("ccc")}));
  w.kv("arr_i32", W::array(5, {W::i32(-1), W::i32(7)}));
  w.kv("arr_f32", W::array(6, {W::f32(1.5f), W::f32(-2.0f)}));
  w.kv("arr_empty", W::array(4, {}));
  w.kv("nested", W::array(9, {W::array(4, {W::u32(1), W::u32(2)}), W::array(4, {}),
                              W::array(4, {W::u32(3)})}));
  const std::string path = tmp_path("all_types.gguf");
  w.write(path);
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->metadata().size(), 19u);
  EXPECT_EQ(f->get("u8").as_int(), 250);
  EXPECT_EQ(f->get("u8").type, GgufValueType::UINT8);
  EXPECT_EQ(f->get("i8").as_int(), -100);
  EXPECT_EQ(f->get("u16").as_int(), 65000);
  EXPECT_EQ(f->get("i16").as_int(), -30000);
  EXPECT_EQ(f->get("u32").as_int(), 4000000000ll);
  EXPECT_EQ(f->get("i32").as_int(), -2000000000ll);
  EXPECT_EQ(f->get("f32").as_double(), 0.375);
  EXPECT_TRUE(f->get("bool_t").as_bool());
  EXPECT_FALSE(f->get("bool_f").as_bool());
  EXPECT_EQ(f->get("str").as_string(), "héllo \"gguf\"");
  EXPECT_EQ(f->get("empty_str").as_string(), "");
  EXPECT_THROW(f->get("u64").as_int(), Error);  // does not fit int64
  EXPECT_EQ(std::get<uint64_t>(f->get("u64").value), 18000000000000000000ull);
  EXPECT_EQ(f->get("i64").as_int(), -9000000000000000000ll);
  EXPECT_EQ(f->get("f64").as_double(), -1.0e300);
  EXPECT_EQ(f->get("arr_str").as_string_array(), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f->get("arr_i32").as_int_array(), (std::vector<int64_t>{-1, 7}));
  EXPECT_EQ(f->get("arr_f32").as_double_array(), (std::vector<double>{1.5, -2.0}));
  EXPECT_TRUE(f->get("arr_empty").as_array().empty());
  const auto& nested = f->get("nested").as_array();
  ASSERT_EQ(nested.size(), 3u);
  EXPECT_EQ(nested[0].as_int_array(), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(nested[1].as_array().empty());
  EXPECT_EQ(nested[2].as_int_array(), (std::vector<int64_t>{3}));
  // Typed accessors name the mismatch.
  EXPECT_THROW(f->get("str").as_int(), Error);
  EXPECT_THROW(f->get("u32").as_string(), Error);
  EXPECT_THROW(f->get("missing"), Error);
  EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufReader, RoundTripsTensorsOfEverySupportedType) {
  W w;
  w.tensor("f32", {3, 2}, 0, test::f32_bytes({1, -2, 3.5f, 0, 0.25f, -8}));
  w.tensor("f16", {2}, 1, std::string("\x00\x3C\x00\xB0", 4));   // 1, -0.125
  w.tensor("bf16", {2}, 30, std::string("\x80\x3F\xA0\xC0", 4));  // 1, -5
  std::string q40(18, '\0');
  q40[1] = 0x38;  // d = 0.5
  for (int j = 0; j < 16; ++j) q40[2 + j] = static_cast<char>(0x9F);  // low 15, high 9
  w.tensor("q4_0", {32}, 2, q40);
  std::string q41(20, '\0');
  q41[1] = 0x3C;  // d = 1
  q41[3] = 0x40;  // m = 2
  for (int j = 0; j < 16; ++j) q41[4 + j] = 0x21;  // low 1, high 2
  w.tensor("q4_1", {32}, 3, q41);
  std::string q80(34, '\0');
  q80[1] = 0x40;  // d = 2
  for (int j = 0; j < 32; ++j) q80[2 + j] = static_cast<char>(-j);
  w.tensor("q8_0", {32}, 8, q80);
  std::string q6k(210, '\0');  // all quants 0 -> q - 32 = -32
  for (int i = 0; i < 16; ++i) q6k[192 + i] = 1;
  q6k[209] = 0x3C;  // d = 1
  w.tensor("q6_k", {256, 1}, 14, q6k);
  const std::string path = tmp_path("all_tensors.gguf");
  w.write(path);
  auto f = GgufFile::open(path);
  ASSERT_EQ(f->tensors().size(), 7u);
  const auto* t = f->find_tensor("f32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ne, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(t->torch_shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t->nbytes, 24u);
  EXPECT_EQ(f->dequantize(*t), (std::vector<float>{1, -2, 3.5f, 0, 0.25f, -8}));
  EXPECT_EQ(f->dequantize(*f->find_tensor("f16")), (std::vector<float>{1, -0.125f}));
  EXPECT_EQ(f->dequantize(*f->find_tensor("bf16")), (std::vector<float>{1, -5}));
  auto q4 = f->dequantize(*f->find_tensor("q4_0"));
  EXPECT_EQ(q4[0], 3.5f);   // (15 - 8) * 0.5
  EXPECT_EQ(q4[16], 0.5f);  // (9 - 8) * 0.5
  auto q41v = f->dequantize(*f->find_tensor("q4_1"));
  EXPECT_EQ(q41v[3], 3.0f);   // 1 * 1 + 2
  EXPECT_EQ(q41v[20], 4.0f);  // 2 * 1 + 2
  auto q8 = f->dequantize(*f->find_tensor("q8_0"));
  EXPECT_EQ(q8[5], -10.0f);
  const auto* q6 = f->find_tensor("q6_k");
  EXPECT_EQ(q6->nbytes, 210u);
  EXPECT_EQ(q6->torch_shape(), (std::vector<int64_t>{1, 256}));
  auto q6v = f->dequantize(*q6);
  EXPECT_EQ(q6v[0], -32.0f);
  EXPECT_EQ(q6v[255], -32.0f);
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
  // Tensor data is read from the mapping at data_offset + offset, aligned.
  for (const auto& ti : f->tensors()) EXPECT_EQ((f->data_offset() + ti.offset) % 32, 0u);
  EXPECT_EQ(std::memcmp(f->tensor_data(*f->find_tensor("q8_0")), q80.data(), 34), 0);
}

TEST(GgufReader, HonoursGeneralAlignment) {
  W w;
  w.alignment = 64;
  w.kv("general.alignment", W::u32(64));
  w.tensor("x", {3}, 0, test::f32_bytes({1, 2, 3}));
  w.tensor("y", {2}, 0, test::f32_bytes({4, 5}));
  auto b = w.bytes();
  auto f = GgufFile::open_memory(b.data(), b.size(), "aligned.gguf");
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->find_tensor("y")->offset, 64u);
  EXPECT_EQ(f->dequantize(*f->find_tensor("y")), (std::vector<float>{4, 5}));

  W bad;
  bad.kv("general.alignment", W::u32(48));
  auto bb = bad.bytes();
  EXPECT_NE(message_of(bb).find("power of two"), std::string::npos) << message_of(bb);
}

TEST(GgufReader, MissingFileErrorNamesThePath) {
  try {
    GgufFile::open("/nonexistent/dir/model.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.gguf"), std::string::npos);
  }
  EXPECT_THROW(GgufFile::open(SKV_TEST_TMP), Error);  // a directory
}

TEST(GgufReader, EveryTruncationThrowsError) {
  const std::string b = small_file().bytes();
  ASSERT_NO_THROW(GgufFile::open_memory(b.data(), b.size(), "full.gguf"));
  for (size_t n = 0; n < b.size(); ++n) {
    EXPECT_THROW(GgufFile::open_memory(b.data(), n, "cut.gguf"), Error) << "truncated at " << n;
  }
  // And through a real file (mmap path), including the empty file.
  const std::string path = tmp_path("truncated.gguf");
  for (size_t n : {size_t{0}, size_t{3}, size_t{23}, b.size() / 2, b.size() - 1}) {
    W::write_bytes(path, b.substr(0, n));
    EXPECT_THROW(GgufFile::open(path), Error) << "truncated at " << n;
  }
}

TEST(GgufReader, AbsurdCountsAndLengthsThrowBeforeAllocating) {
  const std::string good = small_file().bytes();
  auto patched = [&](size_t at, uint64_t v) {
    std::string b = good;
    std::memcpy(b.data() + at, &v, 8);
    return b;
  };
  // Header: magic 0..3, version 4..7, n_tensors 8..15, n_kv 16..23, first key length 24..31.
  EXPECT_NE(message_of(patched(8, 1ull << 40)).find("tensors"), std::string::npos);
  EXPECT_NE(message_of(patched(16, ~0ull)).find("metadata"), std::string::npos);
  EXPECT_NE(message_of(patched(24, 1ull << 62)).find("truncated"), std::string::npos);
  // The "list" array count: key "general.architecture"(20) + type + str "llama", key "answer"...
  W w;
  w.kv("arr", W::array(4, {W::u32(1)}));
  std::string b = w.bytes();
  const size_t count_at = 24 + 8 + 3 + 4 + 4;  // key len, "arr", type ARRAY, element type
  uint64_t huge = 1ull << 60;
  std::memcpy(b.data() + count_at, &huge, 8);
  EXPECT_NE(message_of(b).find("array elements"), std::string::npos) << message_of(b);

  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_NE(message_of(bad_magic).find("not a GGUF file"), std::string::npos);
  std::string v1 = good;
  v1[4] = 1;
  EXPECT_NE(message_of(v1).find("version 1"), std::string::npos);
  std::string v9 = good;
  v9[4] = 9;
  EXPECT_NE(message_of(v9).find("version 9"), std::string::npos);
}

TEST(GgufReader, BadValueTypesDepthAndDuplicatesThrow) {
  W unknown;
  unknown.kv("k", W::Val{13, "xxxxxxxx"});
  EXPECT_NE(message_of(unknown.bytes()).find("unknown value type 13"), std::string::npos);
  W deep;
  W::Val v = W::array(4, {});
  for (int i = 0; i < 40; ++i) v = W::array(9, {v});
  deep.kv("deep", v);
  EXPECT_NE(message_of(deep.bytes()).find("nests arrays"), std::string::npos);
  W dup;
  dup.kv("k", W::u8(1));
  dup.kv("k", W::u8(2));
  EXPECT_NE(message_of(dup.bytes()).find("duplicate metadata key 'k'"), std::string::npos);
  W dupt;
  dupt.tensor("t", {1}, 0, test::f32_bytes({1}));
  dupt.tensor("t", {1}, 0, test::f32_bytes({2}));
  EXPECT_NE(message_of(dupt.bytes()).find("duplicate tensor name t"), std::string::npos);
  W align_type;
  align_type.kv("general.alignment", W::u64(32));
  EXPECT_NE(message_of(align_type.bytes()).find("UINT32"), std::string::npos);
}

TEST(GgufReader, UnknownTensorTypeErrorNamesTensorTypeIdAndSupportedList) {
  W w;
  w.tensor("blk.0.attn_q.weight", {256}, 23, std::string(136, '\0'));
  const std::string m = message_of(w.bytes());
  EXPECT_NE(m.find("mem.gguf"), std::string::npos) << m;
  EXPECT_NE(m.find("tensor blk.0.attn_q.weight has ggml type 23 (IQ4_XS)"), std::string::npos) << m;
  EXPECT_NE(m.find("supported: F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q6_K"), std::string::npos) << m;

  // A known layout skv cannot dequantize (Q4_K) opens, and fails only when dequantized.
  W k;
  k.tensor("blk.0.ffn_up.weight", {256}, 12, std::string(144, '\0'));
  const auto b = k.bytes();
  auto f = GgufFile::open_memory(b.data(), b.size(), "k.gguf");
  EXPECT_EQ(f->tensors()[0].nbytes, 144u);
  try {
    f->dequantize(f->tensors()[0]);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ggml type 12 (Q4_K)"), std::string::npos) << e.what();
  }
}

TEST(GgufReader, BadTensorShapesAndOffsetsThrow) {
  {
    W w;  // 5 dimensions
    w.tensor("t", {1, 1, 1, 1, 1}, 0, test::f32_bytes({1}));
    EXPECT_NE(message_of(w.bytes()).find("5 dimensions"), std::string::npos);
  }
  {
    W w;  // row length not a multiple of the block
    w.tensor("t", {16}, 2, std::string(18, '\0'));
    EXPECT_NE(message_of(w.bytes()).find("not a multiple"), std::string::npos);
  }
  {
    W w;  // absurd shape whose element count overflows
    w.tensor("t", {1ull << 40, 1ull << 40}, 0, "");
    EXPECT_NE(message_of(w.bytes()).find("absurd"), std::string::npos) << message_of(w.bytes());
  }
  {
    W w;  // data beyond the end of the file
    w.tensor("t", {4}, 0, test::f32_bytes({1, 2, 3, 4}), 4096);
    auto b = w.bytes();
    b.resize(b.size() - 16);
    EXPECT_NE(message_of(b).find("outside"), std::string::npos) << message_of(b);
  }
  {
    W w;  // overlapping tensors
    w.tensor("a", {16}, 0, test::f32_bytes(std::vector<float>(16, 1.0f)), 0);
    w.tensor("b", {16}, 0, test::f32_bytes(std::vector<float>(16, 2.0f)), 32);
    EXPECT_NE(message_of(w.bytes()).find("overlap"), std::string::npos) << message_of(w.bytes());
  }
  {
    W w;  // misaligned offset
    w.tensor("a", {1}, 0, test::f32_bytes({1}), 8);
    EXPECT_NE(message_of(w.bytes()).find("alignment"), std::string::npos);
  }
}

TEST(GgufReader, RandomByteCorruptionNeverCrashes) {
  const std::string good = small_file().bytes();
  std::mt19937_64 rng(1234);
  int opened = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string b = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<char>(rng());
    try {
      auto f = GgufFile::open_memory(b.data(), b.size(), "fuzz.gguf");
      ++opened;
      for (const auto& t : f->tensors()) {
        if (ggml_type_supported(static_cast<uint32_t>(t.type))) f->dequantize(t);
      }
    } catch (const Error&) {
    }
  }
  EXPECT_GT(opened, 0);  // flips in tensor data leave a valid file
}
