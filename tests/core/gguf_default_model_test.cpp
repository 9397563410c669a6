// The packaged default model (SmolLM2-135M-Instruct Q4_1 GGUF): metadata, tensor table, and
// dequantized values cross-checked by decoding the raw block bytes here, independently.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/common/error.h"
#include "core/model/gguf_weight_source.h"

using namespace skv;

namespace {

std::string default_path_or_empty(std::string* why) {
  try {
    return default_model_path();
  } catch (const Error& e) {
    *why = e.what();
    return "";
  }
}

#define SKIP_WITHOUT_DEFAULT_MODEL(path)                                        \
  std::string why_;                                                             \
  const std::string path = default_path_or_empty(&why_);                        \
  if (path.empty()) GTEST_SKIP() << "default model not available: " << why_;

// binary16 -> double written from the IEEE definition (not the library's bit shuffling).
double half(const uint8_t* p) {
  const unsigned h = p[0] | (p[1] << 8);
  const int sign = (h >> 15) ? -1 : 1;
  const int e = (h >> 10) & 31;
  const int m = h & 1023;
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

}  // namespace

TEST(GgufDefaultModel, MetadataDescribesSmolLM2_135M) {
  SKIP_WITHOUT_DEFAULT_MODEL(path);
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get("general.architecture").as_string(), "llama");
  EXPECT_EQ(f->get("llama.block_count").as_int(), 30);
  EXPECT_EQ(f->get("llama.context_length").as_int(), 8192);
  EXPECT_EQ(f->get("llama.embedding_length").as_int(), 576);
  EXPECT_EQ(f->get("llama.feed_forward_length").as_int(), 1536);
  EXPECT_EQ(f->get("llama.attention.head_count").as_int(), 9);
  EXPECT_EQ(f->get("llama.attention.head_count_kv").as_int(), 3);
  EXPECT_EQ(f->get("llama.rope.freq_base").as_double(), 100000.0);
  EXPECT_EQ(f->get("llama.rope.dimension_count").as_int(), 64);
  EXPECT_EQ(f->get("llama.vocab_size").as_int(), 49152);
  EXPECT_EQ(f->get("tokenizer.ggml.pre").as_string(), "smollm");
  EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_array().size(), 49152u);
  EXPECT_EQ(f->get("tokenizer.ggml.token_type").as_int_array().size(), 49152u);
  EXPECT_GT(f->get("tokenizer.ggml.merges").as_array().size(), 40000u);
  EXPECT_FALSE(f->get("tokenizer.chat_template").as_string().empty());
  EXPECT_EQ(f->tensors().size(), 272u);  // 30 layers x 9 + token_embd + output_norm
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);
}

TEST(GgufDefaultModel, WeightSourceConfigAndTensorTable) {
  SKIP_WITHOUT_DEFAULT_MODEL(path);
  GgufWeightSource ws(path);
  const auto& c = ws.config();
  EXPECT_EQ(c.name, "SmolLM2-135M-Instruct");
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.hidden, 576);
  EXPECT_EQ(c.ffn_hidden, 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.context_length, 8192);
  EXPECT_EQ(c.rope_theta, 100000.0);
  EXPECT_NEAR(c.rms_eps, 1e-5, 1e-12);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_style, RopeStyle::Interleaved);
  const auto table = ws.describe();
  EXPECT_EQ(table.size(), 272u);
  for (const auto& d : table) {
    if (d.name == "token_embd.weight") {
      EXPECT_EQ(d.dtype, "Q8_0");
      EXPECT_EQ(d.shape, (std::vector<int64_t>{49152, 576}));
      EXPECT_EQ(d.bytes, 49152u * 576 / 32 * 34);
    }
    if (d.name == "blk.0.attn_k.weight") {
      EXPECT_EQ(d.dtype, "Q4_1");
      EXPECT_EQ(d.shape, (std::vector<int64_t>{192, 576}));
    }
  }
  EXPECT_FALSE(ws.has("output.weight"));
  EXPECT_EQ(ws.identity().rfind("gguf:", 0), 0u);
  EXPECT_EQ(ws.identity(), GgufWeightSource(path).identity());
}

TEST(GgufDefaultModel, DequantizedValuesMatchAnIndependentDecodeOfTheRawBlocks) {
  SKIP_WITHOUT_DEFAULT_MODEL(path);
  GgufWeightSource ws(path);
  const GgufFile& f = ws.file();

  // token_embd: Q8_0 (2-byte d, 32 int8). Rows 0 and 1000, the first and a middle block.
  const auto* te = f.find_tensor("token_embd.weight");
  const auto emb = ws.load("token_embd.weight");
  ASSERT_EQ(emb.shape, (std::vector<int64_t>{49152, 576}));
  for (int64_t row : {int64_t{0}, int64_t{1000}, int64_t{49151}}) {
    for (int64_t blk : {int64_t{0}, int64_t{9}, int64_t{17}}) {
      const int64_t first = row * 576 + blk * 32;
      const uint8_t* b = f.tensor_data(*te) + first / 32 * 34;
      const double d = half(b);
      for (int j = 0; j < 32; ++j) {
        const double expect = d * static_cast<int8_t>(b[2 + j]);
        ASSERT_EQ(emb.data[first + j], static_cast<float>(expect)) << "row " << row << " elem " << j;
      }
    }
  }

  // blk.0.attn_q: Q4_1 (d, m, 16 bytes of nibbles: low nibbles are elements 0..15).
  const auto* tq = f.find_tensor("blk.0.attn_q.weight");
  const auto q = ws.load("blk.0.attn_q.weight");
  ASSERT_EQ(q.shape, (std::vector<int64_t>{576, 576}));
  double sum_abs = 0;
  for (int64_t blk : {int64_t{0}, int64_t{1}, int64_t{5000}, int64_t{576 * 576 / 32 - 1}}) {
    const uint8_t* b = f.tensor_data(*tq) + blk * 20;
    const double d = half(b), m = half(b + 2);
    for (int j = 0; j < 32; ++j) {
      const int nib = j < 16 ? (b[4 + j] & 15) : (b[4 + j - 16] >> 4);
      const double expect = nib * d + m;
      ASSERT_NEAR(q.data[blk * 32 + j], expect, 1e-6 * std::abs(expect) + 1e-9) << "block " << blk;
      sum_abs += std::abs(expect);
    }
  }
  EXPECT_GT(sum_abs, 0.0);  // not an all-zero region

  // An F32 norm: raw little-endian floats.
  const auto* tn = f.find_tensor("blk.29.ffn_norm.weight");
  const auto n = ws.load("blk.29.ffn_norm.weight");
  ASSERT_EQ(n.shape, (std::vector<int64_t>{576}));
  for (int i = 0; i < 576; ++i) {
    float v;
    std::memcpy(&v, f.tensor_data(*tn) + 4 * i, 4);
    ASSERT_EQ(n.data[i], v);
  }
}
