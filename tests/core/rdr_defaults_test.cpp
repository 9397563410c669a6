// RDR's defaults (core/policies/rdr_defaults.h) reach the policy: make_policy fills them in for rdr
// and leaves RDKV its own; the shipped SmolLM2 budget profile is found for the real GGUF (read
// here independently from the profile file) and for no shape-only or other model; "none" turns
// it off; a profile for another model is a one-line error.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/cache/cache_tier.h"
#include "core/common/error.h"
#include "core/model/gguf_weight_source.h"
#include "core/model/weight_source.h"
#include "core/policies/peer_policies.h"
#include "core/policies/rdr_policy.h"

namespace skv {
namespace {
namespace fs = std::filesystem;

const fs::path kShipped = fs::path(SKV_ASSETS_DIR) / "profiles" / "smollm2-135m.json";

// The real model's config, or "" with the reason when the package is not installed.
bool real_config(ModelConfig* out, std::string* why) {
  try {
    *out = GgufWeightSource(default_model_path()).config();
    return true;
  } catch (const Error& e) {
    *why = e.what();
    return false;
  }
}

#define REAL_CONFIG(c)                                                        \
  ModelConfig c;                                                              \
  if (std::string why_; !real_config(&c, &why_)) GTEST_SKIP() << "default model not available: " << why_;

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; }

TEST(RdrDefaults, MakePolicyFillsInRdrsDefaultsAndLeavesRdkvItsOwn) {
  const RdrOptions r = rdr_options("rdr");
  EXPECT_EQ(r.utility, "snapkv");
  EXPECT_DOUBLE_EQ(r.utility_power, 0.5);
  EXPECT_EQ(r.profile, "auto");
  EXPECT_EQ(r.sensitivity, "auto");
  EXPECT_FALSE(r.drop_only_if_needed);
  EXPECT_EQ(r.completion, "");
  EXPECT_EQ(rdr_options("rdr-c").completion, "prf");
  EXPECT_DOUBLE_EQ(rdr_options("rdr-c").utility_power, 0.5);
  // The struct's own defaults are the same constants (tests and tools that build RdrOptions).
  const RdrOptions plain;
  EXPECT_EQ(plain.utility, r.utility);
  EXPECT_DOUBLE_EQ(plain.utility_power, r.utility_power);
  EXPECT_EQ(plain.profile, r.profile);
  const RdrOptions k = rdr_options("rdkv");
  EXPECT_EQ(k.utility, "obs");
  EXPECT_DOUBLE_EQ(k.utility_power, 1.0);
  EXPECT_EQ(k.profile, "none");
  EXPECT_EQ(k.sensitivity, "off");
  EXPECT_TRUE(k.drop_only_if_needed);
  // Explicit options win, power 0 and 1 included.
  PolicyOptions o;
  o.utility_power = 1.0;
  o.profile = "none";
  o.utility = "snapkv*0.8+recency*0.2";
  EXPECT_DOUBLE_EQ(rdr_options("rdr", o).utility_power, 1.0);
  EXPECT_EQ(rdr_options("rdr", o).profile, "none");
  EXPECT_EQ(rdr_options("rdr", o).utility, "snapkv*0.8+recency*0.2");
  o.utility_power = 0.0;
  EXPECT_DOUBLE_EQ(rdr_options("rdkv", o).utility_power, 0.0);
  EXPECT_THROW(rdr_options("snapkv"), Error);
}

TEST(RdrDefaults, ShippedProfileIsFoundForTheRealSmolLM2Gguf) {
  REAL_CONFIG(c);
  const std::string found = find_model_profile(c);
  ASSERT_FALSE(found.empty()) << c.name;
  EXPECT_EQ(fs::canonical(found), fs::canonical(kShipped));
  // The file, read here: made for this model, one share per layer, this shape.
  const auto j = nlohmann::json::parse(std::ifstream(kShipped));
  EXPECT_EQ(j["model"].get<std::string>(), c.name);
  EXPECT_EQ(int64_t(j["layer_shares"].size()), c.n_layers);
  EXPECT_EQ(j["model_shape"]["n_kv_heads"].get<int64_t>(), c.n_kv_heads);
  EXPECT_EQ(j["model_shape"]["vocab_size"].get<int64_t>(), c.vocab_size);
  EXPECT_EQ(resolve_rdr_profile("auto", c), found);
  EXPECT_EQ(resolve_rdr_profile("none", c), "");
  EXPECT_EQ(resolve_rdr_profile("", c), "");
  EXPECT_EQ(fs::canonical(resolve_rdr_profile("smollm2-135m", c)), fs::canonical(kShipped));
  // The profile records the fingerprint of the file it was made with: this file's.
  const std::string identity = j["model_identity"].get<std::string>();
  EXPECT_EQ(identity.substr(identity.rfind('#') + 1), c.checkpoint);
  // Renamed (a link under another name): another model name, the same checkpoint, the same profile.
  const fs::path dir = fs::path(SKV_TEST_TMP) / "rdr_defaults_rename";
  fs::create_directories(dir);
  const fs::path link = dir / "renamed-model.gguf";
  fs::remove(link);
  fs::create_symlink(fs::absolute(default_model_path()), link);
  const ModelConfig renamed = GgufWeightSource(link.string()).config();
  EXPECT_EQ(renamed.name, "renamed-model");
  EXPECT_EQ(fs::canonical(find_model_profile(renamed)), fs::canonical(kShipped));
}

TEST(RdrDefaults, ShapeOnlyAndOtherModelsGetNoProfile) {
  // The shipped shape-only SmolLM2 config (random weights): same shape, not the model.
  const auto shape_only = open_weight_source((fs::path(SKV_ASSETS_DIR) / "models" / "smollm2-135m.json").string(), 1);
  EXPECT_EQ(find_model_profile(shape_only->config()), "") << shape_only->config().name;
  const auto llama = open_weight_source((fs::path(SKV_ASSETS_DIR) / "models" / "llama-3.1-8b.json").string(), 1);
  EXPECT_EQ(find_model_profile(llama->config()), "");
  // The right name on another shape (any field of model_shape), or the right shape under another name.
  ModelConfig c = shape_only->config();
  c.name = nlohmann::json::parse(std::ifstream(kShipped))["model"].get<std::string>();
  EXPECT_FALSE(find_model_profile(c).empty()) << "the name and shape of the shipped profile";
  ModelConfig other = c;
  other.n_layers = 29;
  EXPECT_EQ(find_model_profile(other), "");
  other = c;
  other.vocab_size = 32000;
  EXPECT_EQ(find_model_profile(other), "");
  other = c;
  other.architecture = "mistral";
  EXPECT_EQ(find_model_profile(other), "");
  other = c;
  other.name = "SmolLM2-360M-Instruct";
  EXPECT_EQ(find_model_profile(other), "");
  // Another name with the checkpoint fingerprint the profile was made from (a renamed file) finds
  // it; another fingerprint under another name does not.
  const std::string identity = nlohmann::json::parse(std::ifstream(kShipped))["model_identity"].get<std::string>();
  other = c;
  other.name = "renamed-copy";
  other.checkpoint = identity.substr(identity.rfind('#') + 1);
  EXPECT_FALSE(find_model_profile(other).empty()) << identity;
  other.checkpoint = "0123456789abcdef";
  EXPECT_EQ(find_model_profile(other), "");
}

// A context of the model's shape: 30 layers x 3 kv heads (9 query heads), N tokens of random keys.
struct Fixture {
  ModelConfig config;
  std::vector<CacheTier> tiers;
  PolicyContext ctx;
};

Fixture make_context(const ModelConfig& c, int64_t N, double fraction) {
  Fixture f;
  f.config = c;
  f.tiers = load_cache_tiers("default_set", c.head_dim);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto pos = at::arange(N, at::kLong);
  f.ctx.config = &f.config;
  f.ctx.tiers = &f.tiers;
  f.ctx.n_tokens = N;
  f.ctx.forced = pos.lt(4).logical_or(pos.ge(N - 32));
  f.ctx.full_fp16_bytes = double(N * c.n_layers * c.n_kv_heads * c.head_dim * 4);
  f.ctx.page_budget_bytes = fraction * f.ctx.full_fp16_bytes;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerView v;
    v.keys = at::randn({c.n_kv_heads, N, c.head_dim}, gen) * (1.0 + 0.05 * double(l));
    v.values = at::randn({c.n_kv_heads, N, c.head_dim}, gen);
    v.current = at::full({c.n_kv_heads, N}, kHotTier, at::kInt);
    v.obs_queries = at::randn({c.n_heads, 8, c.head_dim}, gen) * 0.3;
    v.obs_pos = at::arange(N - 8, N, at::kLong);
    v.accumulated = at::rand({c.n_kv_heads, N}, gen) * 0.01;
    v.seen_by = (N - pos).to(at::kFloat);
    f.ctx.layers.push_back(v);
  }
  return f;
}

double layer_page_bytes(const PolicyContext& ctx, const Assignment& a, int64_t layer) {
  Assignment only;
  for (size_t l = 0; l < a.size(); ++l) only.push_back(int64_t(l) == layer ? a[l] : at::full_like(a[l], kDropTier));
  return assignment_page_bytes(ctx, only);
}

TEST(RdrDefaults, DefaultRdrSplitsTheBudgetByTheModelsProfileAndNoneDoesNot) {
  REAL_CONFIG(c);
  Fixture f = make_context(c, 292, 0.2);
  auto def = make_policy("rdr");
  auto* rdr = dynamic_cast<RdrPolicy*>(def.get());
  ASSERT_NE(rdr, nullptr);
  const Assignment a = def->assign(f.ctx);
  EXPECT_EQ(fs::canonical(rdr->profile_source()), fs::canonical(kShipped));
  // Every layer within its share of the page budget, the shares read from the file here.
  const auto shares = nlohmann::json::parse(std::ifstream(kShipped))["layer_shares"].get<std::vector<double>>();
  double sum = 0;
  for (double s : shares) sum += s;
  double total = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const double b = layer_page_bytes(f.ctx, a, l), cap = f.ctx.page_budget_bytes * shares[size_t(l)] / sum;
    EXPECT_LE(b, cap * (1 + 1e-9)) << "layer " << l;
    total += b;
  }
  EXPECT_LE(total, f.ctx.page_budget_bytes);
  // "none": one multiplier across layers; here (layer-scaled keys) some layer leaves its share.
  PolicyOptions none;
  none.profile = "none";
  auto off = make_policy("rdr", none);
  const Assignment b = off->assign(f.ctx);
  EXPECT_EQ(dynamic_cast<RdrPolicy*>(off.get())->profile_source(), "");
  int64_t outside = 0;
  for (int64_t l = 0; l < c.n_layers; ++l)
    if (layer_page_bytes(f.ctx, b, l) > f.ctx.page_budget_bytes * shares[size_t(l)] / sum * (1 + 1e-9)) ++outside;
  EXPECT_GT(outside, 0);
  // A layer cap asks for caps instead of the model's profile.
  PolicyOptions capped;
  capped.layer_cap = 0.5;
  auto cap = make_policy("rdr", capped);
  cap->assign(f.ctx);
  EXPECT_EQ(dynamic_cast<RdrPolicy*>(cap.get())->profile_source(), "");
}

TEST(RdrDefaults, ProfileForAnotherModelOrABadFileIsAOneLineError) {
  const fs::path dir = fs::path(SKV_TEST_TMP) / "rdr_defaults";
  fs::create_directories(dir);
  std::ofstream(dir / "two.json") << R"({"model": "other", "layer_shares": [1, 2]})";
  std::ofstream(dir / "broken.json") << "{\"layer_shares\": [1, 2";
  ModelConfig c;
  c.name = "thirty";
  c.n_layers = 30;
  for (const std::string& p : {(dir / "two.json").string(), (dir / "broken.json").string(), std::string("no-such-profile")}) {
    try {
      resolve_rdr_profile(p, c);
      ADD_FAILURE() << p << ": expected skv::Error";
    } catch (const Error& e) {
      EXPECT_TRUE(one_line(e.what())) << e.what();
      if (p.find("two") != std::string::npos) {
        EXPECT_NE(std::string(e.what()).find("2 layer shares, the model has 30 layers"), std::string::npos) << e.what();
      }
    }
  }
  // The policy refuses it too (the cache path), and a named profile with a layer cap.
  ModelConfig two = c;
  two.n_layers = 2;
  two.n_heads = 2;
  two.n_kv_heads = 1;
  two.head_dim = 64;
  Fixture f = make_context(two, 200, 0.3);
  PolicyOptions o;
  o.profile = (dir / "two.json").string();
  EXPECT_NO_THROW(make_policy("rdr", o)->assign(f.ctx));
  o.layer_cap = 0.5;
  EXPECT_THROW(make_policy("rdr", o)->assign(f.ctx), Error);
  ModelConfig three = two;
  three.n_layers = 3;
  Fixture g = make_context(three, 200, 0.3);
  o.layer_cap = 0;
  EXPECT_THROW(make_policy("rdr", o)->assign(g.ctx), Error);
}

}  // namespace
}  // namespace skv
