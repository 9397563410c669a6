// A budget profile written by skv tune, loaded by the RDR cache: the per-layer page bytes the cache
// holds follow the profile's layer budgets (each layer gets its share of the page budget), and
// swapping the profile swaps them. Checked on the cache's own resident-byte accounting.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/attention_stream.h"
#include "core/cache/backend_factory.h"
#include "core/cache/tiered_kv_cache.h"
#include "core/sessions/budget_profile.h"

namespace skv {
namespace {

using test_inputs::call_at;
using test_inputs::make_stream;
using test_inputs::Stream;

namespace fs = std::filesystem;

struct LayerBytes {
  std::vector<double> pages;  // per layer, summed over kv heads and tiers
  double total = 0, budget = 0;
};

// Runs a 512-token prefill and 40 decode steps through an RDR cache with `profile` ("none" = none)
// at total budget `budget`, and returns each layer's resident page bytes.
LayerBytes run(const std::string& profile, const std::string& budget) {
  const ModelConfig c = test_inputs::small_attention_config();
  const std::vector<Stream> layers = {make_stream(c, 600, 21), make_stream(c, 600, 22)};
  BackendSpec spec;
  spec.kv = "rdr";
  spec.policy = "rdr";
  spec.budget = budget;
  spec.cache.retier_every = 16;
  spec.cache.lut_scoring = false;
  spec.policy_options.profile = profile;
  // The profile plumbing, not the utility, is under test: pinned to the estimator and power the 5%
  // fill tolerance below was set with (RDR's defaults, rdr_defaults.h, are snapkv and power 0.5).
  spec.policy_options.utility = "snapkv";
  spec.policy_options.utility_power = 1.0;
  auto cache = make_tiered_cache(spec);
  cache->reset(c, 1, 600, at::kCPU);
  for (int64_t p = 0; p < 512; p += 64)
    for (int64_t l = 0; l < c.n_layers; ++l) cache->attend(call_at(layers[size_t(l)], l, p, 64));
  for (int64_t i = 0; i < 40; ++i)
    for (int64_t l = 0; l < c.n_layers; ++l) cache->attend(call_at(layers[size_t(l)], l, 512 + i, 1));
  const ResidentBytes r = cache->resident_bytes();
  LayerBytes out;
  for (const auto& layer : r.by_head_tier) {
    double b = 0;
    for (const auto& head : layer)
      for (std::size_t t = 0; t + 1 < head.size(); ++t) b += head[t];  // the last slot is the hot window
    out.pages.push_back(b);
  }
  out.total = r.total;
  out.budget = cache->budget_bytes();
  return out;
}

fs::path write_profile(const std::string& name, std::vector<double> budgets) {
  BudgetProfile p;
  p.model = "tiny";
  p.policy = "rdr";
  p.target_kl = 0.01;
  p.layer_budgets = std::move(budgets);
  double sum = 0;
  for (double b : p.layer_budgets) sum += b;
  p.mean_budget = sum / double(p.layer_budgets.size());
  const fs::path dir = fs::path(SKV_TEST_TMP) / "budget_profile_cache";
  fs::create_directories(dir);
  const fs::path f = dir / (name + ".json");
  save_budget_profile(f, p);
  return f;
}

TEST(BudgetProfileCache, LoadedProfileSetsEachLayersPageBytesAsWritten) {
  // Layer 0 at 0.4 of its fp16 cache, layer 1 at 0.1: shares 0.8 / 0.2 of the page budget, run at
  // the profile's mean budget 0.25.
  const fs::path a = write_profile("a", {0.4, 0.1});
  const fs::path b = write_profile("b", {0.1, 0.4});
  const BudgetProfile pa = read_budget_profile(a);
  ASSERT_DOUBLE_EQ(pa.mean_budget, 0.25);
  const LayerBytes none = run("none", "0.25"), with_a = run(a.string(), "0.25"), with_b = run(b.string(), "0.25");
  auto share0 = [](const LayerBytes& x) { return x.pages[0] / (x.pages[0] + x.pages[1]); };
  // The cache honours the shares (within a few pages of rounding) and the total budget.
  EXPECT_NEAR(share0(with_a), 0.8, 0.03);
  EXPECT_NEAR(share0(with_b), 0.2, 0.03);
  EXPECT_LE(with_a.total, with_a.budget);
  EXPECT_LE(with_b.total, with_b.budget);
  // Without a profile the two alike layers get about the same bytes.
  EXPECT_NEAR(share0(none), 0.5, 0.1);
  // The same total page bytes, redistributed (each run fills its page budget).
  const double sum_none = none.pages[0] + none.pages[1], sum_a = with_a.pages[0] + with_a.pages[1];
  EXPECT_NEAR(sum_a / sum_none, 1.0, 0.05);
}

TEST(BudgetProfileCache, ProfileOfAnotherLayerCountIsRefusedByTheCache) {
  const fs::path f = write_profile("three", {0.2, 0.3, 0.25});
  try {
    run(f.string(), "0.25");
    FAIL() << "expected skv::Error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("3 layer shares, the model has 2 layers"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace skv
