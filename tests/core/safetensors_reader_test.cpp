// safetensors: files written here (F32, BF16, F16) read back, HF names mapped to GGUF names,
// sharded checkpoints, and corrupt headers that must end in skv::Error.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/safetensors_reader.h"
#include "core/model/safetensors_weight_source.h"
#include "core/model/weight_source.h"

using namespace skv;
namespace fs = std::filesystem;

namespace {

struct StTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

std::string st_bytes(const std::vector<StTensor>& ts, std::string* header_out = nullptr) {
  nlohmann::json h;
  h["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  std::string data;
  for (const auto& t : ts) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
    data += t.bytes;
  }
  std::string header = h.dump();
  while (header.size() % 8 != 0) header += ' ';  // the reference writer pads with spaces
  if (header_out) *header_out = header;
  const uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

void write_file(const fs::path& p, const std::string& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

std::string f32(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}
// float -> bf16 by truncation: exact for the values used here (few mantissa bits).
std::string bf16(const std::vector<float>& v) {
  std::string s;
  for (float x : v) {
    uint32_t b;
    std::memcpy(&b, &x, 4);
    s += static_cast<char>((b >> 16) & 0xFF);
    s += static_cast<char>(b >> 24);
  }
  return s;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(SKV_TEST_TMP) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Tiny llama: hidden 8, 2 heads, 1 kv head (head_dim 4), ffn 16, 2 layers, vocab 10.
nlohmann::json tiny_config(bool tied) {
  return {{"model_type", "llama"}, {"hidden_size", 8}, {"intermediate_size", 16},
          {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
          {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"max_position_embeddings", 64},
          {"vocab_size", 10}, {"tie_word_embeddings", tied}};
}

// value(i) of tensor number t: small, exactly representable in bf16 (k/8 with |k| < 64).
float val(int t, int64_t i) { return static_cast<float>(static_cast<int>((i * 7 + t * 3) % 41) - 20) / 8.0f; }

std::vector<StTensor> tiny_tensors(const std::string& dtype, bool with_lm_head) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"model.embed_tokens.weight", {10, 8}}, {"model.norm.weight", {8}}};
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    shapes.push_back({p + "input_layernorm.weight", {8}});
    shapes.push_back({p + "self_attn.q_proj.weight", {8, 8}});
    shapes.push_back({p + "self_attn.k_proj.weight", {4, 8}});
    shapes.push_back({p + "self_attn.v_proj.weight", {4, 8}});
    shapes.push_back({p + "self_attn.o_proj.weight", {8, 8}});
    shapes.push_back({p + "post_attention_layernorm.weight", {8}});
    shapes.push_back({p + "mlp.gate_proj.weight", {16, 8}});
    shapes.push_back({p + "mlp.up_proj.weight", {16, 8}});
    shapes.push_back({p + "mlp.down_proj.weight", {8, 16}});
  }
  if (with_lm_head) shapes.push_back({"lm_head.weight", {10, 8}});
  shapes.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {2}});  // ignored by skv
  std::vector<StTensor> out;
  int t = 0;
  for (const auto& [name, shape] : shapes) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = val(t, i);
    out.push_back({name, dtype, shape, dtype == "BF16" ? bf16(v) : f32(v)});
    ++t;
  }
  return out;
}

}  // namespace

TEST(SafetensorsReader, HfNamesMapToCanonicalGgufNames) {
  EXPECT_EQ(hf_to_canonical_name("model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(hf_to_canonical_name("model.norm.weight"), "output_norm.weight");
  EXPECT_EQ(hf_to_canonical_name("lm_head.weight"), "output.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.12.self_attn.q_proj.weight"), "blk.12.attn_q.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.0.self_attn.o_proj.weight"), "blk.0.attn_output.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.3.input_layernorm.weight"), "blk.3.attn_norm.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.3.post_attention_layernorm.weight"), "blk.3.ffn_norm.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.7.mlp.down_proj.weight"), "blk.7.ffn_down.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.7.mlp.gate_proj.weight"), "blk.7.ffn_gate.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.7.mlp.up_proj.weight"), "blk.7.ffn_up.weight");
  EXPECT_EQ(hf_to_canonical_name("model.layers.0.self_attn.rotary_emb.inv_freq"), "");
  EXPECT_EQ(hf_to_canonical_name("model.layers.x.mlp.up_proj.weight"), "");
  EXPECT_EQ(hf_to_canonical_name("model.layers.99999999999999999999.mlp.up_proj.weight"), "");
}

TEST(SafetensorsReader, ReadsF32Bf16AndF16Tensors) {
  const fs::path d = fresh_dir("st_dtypes");
  write_file(d / "x.safetensors",
             st_bytes({{"a", "F32", {2, 2}, f32({1.0f, -2.5f, 0.15625f, 3e-3f})},
                       {"b", "BF16", {3}, std::string("\x80\x3F\xA0\xC0\x20\x3E", 6)},
                       {"c", "F16", {2}, std::string("\x00\x3C\x00\xB0", 4)},
                       {"i", "I64", {1}, std::string(8, '\0')}}));
  auto f = SafetensorsFile::open((d / "x.safetensors").string());
  ASSERT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->find("a")->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(f->to_float(*f->find("a")), (std::vector<float>{1.0f, -2.5f, 0.15625f, 3e-3f}));
  EXPECT_EQ(f->to_float(*f->find("b")), (std::vector<float>{1.0f, -5.0f, 0.15625f}));
  EXPECT_EQ(f->to_float(*f->find("c")), (std::vector<float>{1.0f, -0.125f}));
  EXPECT_THROW(f->to_float(*f->find("i")), Error);
}

TEST(SafetensorsReader, CorruptHeadersAndOffsetsThrowNamingTheFile) {
  const fs::path d = fresh_dir("st_corrupt");
  const fs::path p = d / "bad.safetensors";
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    write_file(p, bytes);
    try {
      SafetensorsFile::open(p.string());
      ADD_FAILURE() << "accepted a corrupt file (" << needle << ")";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string good = st_bytes({{"a", "F32", {2}, f32({1, 2})}, {"b", "F32", {1}, f32({3})}});
  for (size_t n = 0; n < good.size(); ++n) {
    write_file(p, good.substr(0, n));
    EXPECT_THROW(SafetensorsFile::open(p.string()), Error) << "truncated at " << n;
  }
  std::string huge = good;
  const uint64_t big = 1ull << 40;
  std::memcpy(huge.data(), &big, 8);
  expect_error(huge, "absurd");
  expect_error(st_bytes({{"a", "F32", {3}, f32({1, 2})}}), "needs 12");
  expect_error(st_bytes({{"a", "Q4", {2}, f32({1, 2})}}), "unknown dtype Q4");
  std::string garbage = good;
  garbage[8] = '!';  // the header's opening brace
  expect_error(garbage, "JSON");
  // Overlap: two tensors pointing at the same bytes.
  nlohmann::json h = {{"a", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}},
                      {"b", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}}};
  std::string hs = h.dump();
  uint64_t n = hs.size();
  std::string b(8, '\0');
  std::memcpy(b.data(), &n, 8);
  expect_error(b + hs + f32({1}), "overlap");
  EXPECT_THROW(SafetensorsFile::open((d / "missing.safetensors").string()), Error);
}

TEST(SafetensorsWeightSource, Bf16DirectoryRoundTripsWithNameMappingAndTiedEmbeddings) {
  const fs::path d = fresh_dir("st_tiny_bf16");
  write_file(d / "model.safetensors", st_bytes(tiny_tensors("BF16", false)));
  std::ofstream(d / "config.json") << tiny_config(true).dump();
  SafetensorsWeightSource ws(d.string());
  const auto& c = ws.config();
  EXPECT_EQ(c.hidden, 8);
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_style, RopeStyle::Half);
  EXPECT_EQ(c.name, "st_tiny_bf16");
  EXPECT_FALSE(ws.has("output.weight"));
  EXPECT_FALSE(ws.has("model.embed_tokens.weight"));  // only canonical names
  EXPECT_EQ(ws.describe().size(), 2u + 2u * 9u);
  // model.layers.1.self_attn.k_proj.weight is tensor number 2 + 9 + 2 = 13 in tiny_tensors.
  const auto k = ws.load("blk.1.attn_k.weight");
  ASSERT_EQ(k.shape, (std::vector<int64_t>{4, 8}));
  for (int64_t i = 0; i < 32; ++i) EXPECT_EQ(k.data[i], val(13, i)) << i;
  const auto emb = ws.load("token_embd.weight");
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{10, 8}));
  EXPECT_EQ(emb.data[79], val(0, 79));
  EXPECT_THROW(ws.load("blk.9.attn_q.weight"), Error);
  // open_weight_source: the directory, the .safetensors file and the checkpoint's config.json
  // all open the checkpoint (not random weights of its shape).
  for (const auto& spec : {d.string(), (d / "model.safetensors").string(), (d / "config.json").string()}) {
    auto o = open_weight_source(spec);
    EXPECT_EQ(o->config().rope_style, RopeStyle::Half) << spec;
    EXPECT_EQ(o->load("blk.1.attn_k.weight").data, k.data) << spec;
  }
  // Identity follows the content: rewriting one weight changes it.
  const std::string id = ws.identity();
  EXPECT_EQ(id, SafetensorsWeightSource(d.string()).identity());
  auto changed = tiny_tensors("BF16", false);
  changed[0].bytes[0] ^= 1;
  write_file(d / "model.safetensors", st_bytes(changed));
  EXPECT_NE(id, SafetensorsWeightSource(d.string()).identity());
}

TEST(SafetensorsWeightSource, ShardedF32CheckpointWithIndexAndLmHead) {
  const fs::path d = fresh_dir("st_tiny_sharded");
  auto ts = tiny_tensors("F32", true);
  const std::vector<StTensor> first(ts.begin(), ts.begin() + 11), second(ts.begin() + 11, ts.end());
  write_file(d / "model-00001-of-00002.safetensors", st_bytes(first));
  write_file(d / "model-00002-of-00002.safetensors", st_bytes(second));
  nlohmann::json index;
  for (const auto& t : first) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : second) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  std::ofstream(d / "model.safetensors.index.json") << index.dump();
  std::ofstream(d / "config.json") << tiny_config(false).dump();
  SafetensorsWeightSource ws(d.string());
  EXPECT_FALSE(ws.config().tied_embeddings);
  ASSERT_TRUE(ws.has("output.weight"));
  const auto head = ws.load("output.weight");  // lm_head is tensor number 20
  EXPECT_EQ(head.shape, (std::vector<int64_t>{10, 8}));
  EXPECT_EQ(head.data[5], val(20, 5));
  EXPECT_EQ(ws.load("blk.0.ffn_down.weight").data[100], val(10, 100));  // first shard
  EXPECT_EQ(ws.load("blk.1.attn_q.weight").data[63], val(12, 63));      // second shard
}

TEST(SafetensorsWeightSource, MissingConfigMissingTensorAndBadShapeThrow) {
  const fs::path d = fresh_dir("st_tiny_bad");
  write_file(d / "model.safetensors", st_bytes(tiny_tensors("F32", false)));
  EXPECT_THROW(SafetensorsWeightSource ws(d.string()), Error);  // no config.json
  auto cfg = tiny_config(false);  // untied but no lm_head
  std::ofstream(d / "config.json") << cfg.dump();
  try {
    SafetensorsWeightSource ws(d.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head"), std::string::npos) << e.what();
  }
  cfg = tiny_config(true);
  cfg["intermediate_size"] = 32;  // shapes no longer match
  std::ofstream(d / "config.json", std::ios::trunc) << cfg.dump();
  try {
    SafetensorsWeightSource ws(d.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
  }
  cfg = tiny_config(true);
  cfg["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  std::ofstream(d / "config.json", std::ios::trunc) << cfg.dump();
  try {
    SafetensorsWeightSource ws(d.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SafetensorsWeightSource ws((d / "nothing_here").string()), Error);
}
