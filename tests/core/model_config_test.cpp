#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/model_config.h"

using namespace skv;
using nlohmann::json;

namespace {
json smol_hf_config() {
  // As in HuggingFaceTB/SmolLM2-135M-Instruct's config.json (shape keys).
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
    "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
    "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_theta": 100000,
    "max_position_embeddings": 8192, "vocab_size": 49152, "tie_word_embeddings": true,
    "_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"})");
}
}  // namespace

TEST(ModelConfig, ReadsHuggingFaceConfigJson) {
  const auto c = model_config_from_json(smol_hf_config());
  EXPECT_EQ(c.name, "HuggingFaceTB/SmolLM2-135M-Instruct");
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.hidden, 576);
  EXPECT_EQ(c.ffn_hidden, 1536);
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);  // 576 / 9
  EXPECT_EQ(c.rope_theta, 100000.0);
  EXPECT_EQ(c.rms_eps, 1e-5);
  EXPECT_EQ(c.context_length, 8192);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_style, RopeStyle::Half);
  EXPECT_EQ(c.fp16_kv_bytes_per_token(), 2 * 2 * 30 * 3 * 64);
}

TEST(ModelConfig, DefaultsAndExplicitHeadDim) {
  auto j = smol_hf_config();
  j.erase("num_key_value_heads");
  j.erase("tie_word_embeddings");
  j.erase("rope_theta");
  auto c = model_config_from_json(j);
  EXPECT_EQ(c.n_kv_heads, 9);             // MHA when absent
  EXPECT_FALSE(c.tied_embeddings);        // LlamaConfig default
  EXPECT_EQ(c.rope_theta, 10000.0);
  j["head_dim"] = 32;                     // explicit head_dim need not equal hidden / heads
  c = model_config_from_json(j);
  EXPECT_EQ(c.head_dim, 32);
  j["name"] = "mine";
  j["rope_style"] = "interleaved";
  c = model_config_from_json(j);
  EXPECT_EQ(c.name, "mine");
  EXPECT_EQ(c.rope_style, RopeStyle::Interleaved);
}

TEST(ModelConfig, RoundTripsThroughJson) {
  auto c = model_config_from_json(smol_hf_config());
  c.rope_style = RopeStyle::Interleaved;
  const auto back = model_config_from_json(model_config_to_json(c));
  EXPECT_EQ(back.name, c.name);
  EXPECT_EQ(back.hidden, c.hidden);
  EXPECT_EQ(back.head_dim, c.head_dim);
  EXPECT_EQ(back.n_kv_heads, c.n_kv_heads);
  EXPECT_EQ(back.tied_embeddings, c.tied_embeddings);
  EXPECT_EQ(back.rope_style, c.rope_style);
  EXPECT_EQ(back.rms_eps, c.rms_eps);
  EXPECT_EQ(back.context_length, c.context_length);
}

TEST(ModelConfig, RejectsInconsistentShapesNamingTheField) {
  auto expect_error = [](json j, const std::string& needle) {
    try {
      model_config_from_json(j);
      ADD_FAILURE() << "accepted " << j.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto j = smol_hf_config();
  j["num_key_value_heads"] = 2;  // 9 % 2 != 0
  expect_error(j, "n_kv_heads");
  j = smol_hf_config();
  j["head_dim"] = 63;
  expect_error(j, "even");
  j = smol_hf_config();
  j["num_hidden_layers"] = 0;
  expect_error(j, "n_layers");
  j = smol_hf_config();
  j["num_attention_heads"] = 7;  // 576 % 7 != 0 and no head_dim
  expect_error(j, "head_dim");
  j = smol_hf_config();
  j.erase("vocab_size");
  expect_error(j, "vocab_size");
  j = smol_hf_config();
  j["hidden_size"] = "576";
  expect_error(j, "hidden_size");
  j = smol_hf_config();
  j["model_type"] = "gpt2";
  expect_error(j, "gpt2");
  j = smol_hf_config();
  j["rms_norm_eps"] = 0;
  expect_error(j, "rms_eps");
  expect_error(json::array(), "object");
}
