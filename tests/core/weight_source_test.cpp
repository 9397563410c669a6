// open_weight_source dispatch, GgufWeightSource over test-written files, and the seeded random
// source (deterministic per seed, lazy for the 8B shape).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/gguf_test_writer.h"
#include "core/model/gguf_weight_source.h"
#include "core/model/random_weight_source.h"
#include "core/model/weight_source.h"

using namespace skv;
namespace fs = std::filesystem;
using W = skv::test::GgufTestWriter;

namespace {

std::string tmp_path(const std::string& name) {
  fs::create_directories(SKV_TEST_TMP);
  return (fs::path(SKV_TEST_TMP) / name).string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(GgufWeightSource, TinyLlamaConfigShapesAndValues) {
  const std::string path = tmp_path("tiny-llama.F32.gguf");
  test::tiny_llama_gguf().write(path);
  GgufWeightSource ws(path);
  const auto& c = ws.config();
  EXPECT_EQ(c.name, "tiny-llama");  // file stem without the quant tag
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.hidden, 8);
  EXPECT_EQ(c.n_heads, 2);
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.ffn_hidden, 16);
  EXPECT_EQ(c.vocab_size, 10);
  EXPECT_EQ(c.context_length, 64);
  EXPECT_NEAR(c.rms_eps, 1e-6, 1e-12);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_style, RopeStyle::Interleaved);
  // ffn_gate of layer 0 is tensor number 7 (embd, then 9 per layer): ne = [8, 16] -> [16, 8].
  const auto g = ws.load("blk.0.ffn_gate.weight");
  EXPECT_EQ(g.shape, (std::vector<int64_t>{16, 8}));
  EXPECT_FLOAT_EQ(g.data[100], 0.001f * (100 % 97) - 0.07f);
  EXPECT_THROW(ws.load("output.weight"), Error);
  EXPECT_EQ(ws.describe().size(), 1u + 18u + 1u);

  const std::string untied = tmp_path("tiny-untied.gguf");
  test::tiny_llama_gguf("llama", true).write(untied);
  GgufWeightSource wu(untied);
  EXPECT_FALSE(wu.config().tied_embeddings);
  EXPECT_EQ(wu.load("output.weight").shape, (std::vector<int64_t>{10, 8}));
  EXPECT_NE(wu.identity(), ws.identity());
}

TEST(GgufWeightSource, OtherArchitectureMissingTensorAndUnsupportedTypeThrow) {
  const std::string qwen = tmp_path("tiny-qwen.gguf");
  test::tiny_llama_gguf("qwen2").write(qwen);
  const auto m = error_of([&] { GgufWeightSource ws(qwen); });
  EXPECT_NE(m.find("architecture 'qwen2' is not supported"), std::string::npos) << m;
  EXPECT_NE(m.find(qwen), std::string::npos) << m;

  const std::string miss = tmp_path("tiny-missing.gguf");
  {
    W x;
    x.kv("general.architecture", W::str("llama"));
    x.kv("llama.block_count", W::u32(1));
    x.kv("llama.context_length", W::u32(64));
    x.kv("llama.embedding_length", W::u32(32));
    x.kv("llama.feed_forward_length", W::u32(32));
    x.kv("llama.attention.head_count", W::u32(1));
    x.kv("llama.vocab_size", W::u32(2));
    x.tensor("token_embd.weight", {32, 2}, 0, test::f32_bytes(std::vector<float>(64)));
    // blk.0.attn_q stored as Q4_K: a layout skv knows but cannot dequantize.
    x.tensor("blk.0.attn_norm.weight", {32}, 0, test::f32_bytes(std::vector<float>(32)));
    x.tensor("blk.0.attn_q.weight", {256, 4}, 12, std::string(4 * 144, '\0'));
    x.write(miss);
  }
  const auto m2 = error_of([&] { GgufWeightSource ws(miss); });
  EXPECT_NE(m2.find("tensor blk.0.attn_q.weight has shape 4x256, expected 32x32"), std::string::npos) << m2;

  const std::string q4k = tmp_path("tiny-q4k.gguf");
  {
    W x;
    x.kv("general.architecture", W::str("llama"));
    x.kv("llama.block_count", W::u32(1));
    x.kv("llama.context_length", W::u32(64));
    x.kv("llama.embedding_length", W::u32(256));
    x.kv("llama.feed_forward_length", W::u32(256));
    x.kv("llama.attention.head_count", W::u32(2));
    x.kv("llama.vocab_size", W::u32(2));
    x.tensor("token_embd.weight", {256, 2}, 12, std::string(2 * 144, '\0'));
    x.write(q4k);
  }
  const auto m3 = error_of([&] { GgufWeightSource ws(q4k); });
  EXPECT_NE(m3.find("token_embd.weight has ggml type 12 (Q4_K) which skv cannot dequantize"),
            std::string::npos) << m3;

  W nometa;
  nometa.kv("general.architecture", W::str("llama"));
  const std::string nm = tmp_path("tiny-nometa.gguf");
  nometa.write(nm);
  const auto m4 = error_of([&] { GgufWeightSource ws(nm); });
  EXPECT_NE(m4.find("llama.block_count"), std::string::npos) << m4;
}

TEST(RandomWeightSource, DeterministicPerSeedWithSmallStdAndUnitNorms) {
  const auto c = model_config_from_json(nlohmann::json::parse(std::ifstream(std::string(SKV_ASSETS_DIR) + "/models/smollm2-135m.json")));
  RandomWeightSource a(c, 7), b(c, 7), other(c, 8);
  const auto x = a.load("blk.3.ffn_up.weight");
  EXPECT_EQ(x.shape, (std::vector<int64_t>{1536, 576}));
  EXPECT_EQ(x.data, b.load("blk.3.ffn_up.weight").data);
  EXPECT_NE(x.data, other.load("blk.3.ffn_up.weight").data);
  EXPECT_NE(x.data, a.load("blk.4.ffn_up.weight").data);  // tensors differ from each other
  double sum = 0, sq = 0;
  for (float v : x.data) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(x.data.size());
  const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.001);  // 884736 samples: the standard error of the mean is 2e-5
  EXPECT_NEAR(sd, 0.02, 0.0005);
  const auto norm = a.load("blk.0.attn_norm.weight");
  EXPECT_EQ(norm.data, std::vector<float>(576, 1.0f));
  EXPECT_EQ(a.load("output_norm.weight").data, std::vector<float>(576, 1.0f));
  EXPECT_FALSE(a.has("output.weight"));  // tied
  EXPECT_EQ(a.identity(), b.identity());
  EXPECT_NE(a.identity(), other.identity());
  EXPECT_THROW(a.load("blk.30.attn_q.weight"), Error);
}

TEST(RandomWeightSource, Llama31_8BShapeOpensInstantlyAndIsLazy) {
  const auto t0 = std::chrono::steady_clock::now();
  auto ws = open_weight_source("llama-3.1-8b", 1);  // bare name -> assets/models/llama-3.1-8b.json
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 1.0);
  const auto& c = ws->config();
  EXPECT_EQ(c.n_layers, 32);
  EXPECT_EQ(c.hidden, 4096);
  EXPECT_EQ(c.ffn_hidden, 14336);
  EXPECT_EQ(c.n_heads, 32);
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.context_length, 131072);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rms_eps, 1e-5);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.fp16_kv_bytes_per_token(), 131072);  // 2 (K,V) * 2 bytes * 32 * 8 * 128
  const auto table = ws->describe();
  EXPECT_EQ(table.size(), 32u * 9u + 3u);
  uint64_t params = 0;
  for (const auto& d : table) {
    uint64_t n = 1;
    for (auto s : d.shape) n *= static_cast<uint64_t>(s);
    params += n;
    if (d.name == "blk.0.attn_k.weight") {
      EXPECT_EQ(d.shape, (std::vector<int64_t>{1024, 4096}));
    }
    if (d.name == "blk.31.ffn_down.weight") {
      EXPECT_EQ(d.shape, (std::vector<int64_t>{4096, 14336}));
    }
    if (d.name == "output.weight") {
      EXPECT_EQ(d.shape, (std::vector<int64_t>{128256, 4096}));
    }
  }
  EXPECT_EQ(params, 8030261248ull);  // Llama-3.1-8B's published parameter count
  const auto q = ws->load("blk.5.attn_norm.weight");  // one small tensor, on demand
  EXPECT_EQ(q.shape, (std::vector<int64_t>{4096}));
}

TEST(OpenWeightSource, DispatchesOnSpecAndReportsUnusableSpecs) {
  const std::string gguf = tmp_path("tiny-open.gguf");
  test::tiny_llama_gguf().write(gguf);
  auto g = open_weight_source(gguf);
  EXPECT_EQ(g->config().rope_style, RopeStyle::Interleaved);
  EXPECT_NE(dynamic_cast<GgufWeightSource*>(g.get()), nullptr);

  auto r = open_weight_source(std::string(SKV_ASSETS_DIR) + "/models/smollm2-135m.json", 3);
  EXPECT_NE(dynamic_cast<RandomWeightSource*>(r.get()), nullptr);
  EXPECT_EQ(r->config().n_layers, 30);

  const auto missing = error_of([] { open_weight_source("/no/such/model.gguf"); });
  EXPECT_NE(missing.find("/no/such/model.gguf"), std::string::npos) << missing;
  const std::string junk = tmp_path("junk.bin");
  std::ofstream(junk) << "hello";
  EXPECT_NE(error_of([&] { open_weight_source(junk); }).find("not a model"), std::string::npos);
  const std::string notcfg = tmp_path("notcfg.json");
  std::ofstream(notcfg) << R"({"a": 1})";
  EXPECT_NE(error_of([&] { open_weight_source(notcfg); }).find("neither"), std::string::npos);
  EXPECT_FALSE(error_of([] { open_weight_source(""); }).empty());
}

TEST(OpenWeightSource, DefaultHonoursSkvDefaultModel) {
  const std::string gguf = tmp_path("tiny-default.gguf");
  test::tiny_llama_gguf().write(gguf);
  {
    ScopedEnv env("SKV_DEFAULT_MODEL", gguf);
    EXPECT_EQ(default_model_path(), gguf);
    EXPECT_EQ(open_weight_source("default")->config().hidden, 8);
  }
  {
    ScopedEnv env("SKV_DEFAULT_MODEL", "/no/such/default.gguf");
    const auto m = error_of([] { default_model_path(); });
    EXPECT_NE(m.find("SKV_DEFAULT_MODEL=/no/such/default.gguf"), std::string::npos) << m;
  }
}
