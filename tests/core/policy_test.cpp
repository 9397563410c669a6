// Each peer policy keeps exactly what its definition says on hand-built contexts.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <set>

#include "core/cache/cache_tier.h"
#include "core/common/error.h"
#include "core/policies/peer_policies.h"
#include "core/policies/rdr_policy.h"
#include "core/policies/utility_estimators.h"

namespace skv {
namespace {

struct Fixture {
  ModelConfig config;
  std::vector<CacheTier> tiers;
  PolicyContext ctx;
};

// L layers, 1 kv head (2 query heads), N tokens, sinks 4 + window 32 forced; budget in pages per
// (layer, head) of the first tier.
Fixture make(const std::string& tier_spec, int64_t N = 400, int64_t L = 2, double pages = 2, uint64_t seed = 1) {
  Fixture f;
  auto& c = f.config;
  c.n_layers = L;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 64;
  f.tiers = load_cache_tiers(tier_spec, 64);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto pos = at::arange(N, at::kLong);
  f.ctx.config = &f.config;
  f.ctx.tiers = &f.tiers;
  f.ctx.n_tokens = N;
  f.ctx.forced = pos.lt(4).logical_or(pos.ge(N - 32));
  f.ctx.full_fp16_bytes = double(N * L * 256);
  f.ctx.page_budget_bytes = pages * double(L) * f.tiers[0].page_cost();
  for (int64_t l = 0; l < L; ++l) {
    LayerView v;
    v.keys = at::randn({1, N, 64}, gen);
    v.values = at::randn({1, N, 64}, gen);
    v.current = at::full({1, N}, kHotTier, at::kInt);
    v.obs_queries = at::randn({2, 8, 64}, gen) * 0.1;
    v.obs_pos = at::arange(N - 8, N, at::kLong);
    v.accumulated = at::rand({1, N}, gen) * 0.01;
    v.seen_by = (N - pos).to(at::kFloat);
    f.ctx.layers.push_back(v);
  }
  return f;
}

std::vector<int64_t> kept(const Assignment& a, const PolicyContext& ctx, int64_t l) {
  auto m = a[size_t(l)][0].ne(kDropTier).logical_and(ctx.forced.logical_not());
  auto idx = m.nonzero().reshape({-1});
  return std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
}

TEST(PeerPolicies, StreamingKeepsTheNewestTokensThatFit) {
  auto f = make("fp16");
  auto a = make_policy("streaming")->assign(f.ctx);
  for (int64_t l = 0; l < 2; ++l) {
    auto k = kept(a, f.ctx, l);
    ASSERT_EQ(k.size(), 128u);  // 2 pages of 64
    EXPECT_EQ(k.front(), 400 - 32 - 128);
    EXPECT_EQ(k.back(), 400 - 33);
  }
  EXPECT_LE(assignment_page_bytes(f.ctx, a), f.ctx.page_budget_bytes);
}

TEST(PeerPolicies, H2OKeepsTheHeaviestAccumulatedAttention) {
  auto f = make("fp16", 400, 2, 1);
  for (int64_t j = 10; j < 330; j += 5) f.ctx.layers[0].accumulated[0][j] = 5.0 + double(j);  // 64 heavy hitters
  auto k = kept(make_policy("h2o")->assign(f.ctx), f.ctx, 0);
  ASSERT_EQ(k.size(), 64u);
  for (size_t i = 0; i < k.size(); ++i) EXPECT_EQ(k[i], int64_t(10 + 5 * i));
}

TEST(PeerPolicies, SnapKvKeepsWhatTheObservationWindowAttends) {
  auto f = make("fp16", 400, 1, 1);
  auto& v = f.ctx.layers[0];
  // The window's queries point at keys 50, 120, 200 (and the pooled neighbourhood, +-3).
  for (int64_t i = 0; i < 8; ++i) {
    const int64_t target = i % 3 == 0 ? 50 : i % 3 == 1 ? 120 : 200;
    v.obs_queries[0][i] = v.keys[0][target] * 3.0;
    v.obs_queries[1][i] = v.keys[0][target] * 3.0;
  }
  auto k = kept(make_policy("snapkv")->assign(f.ctx), f.ctx, 0);
  ASSERT_EQ(k.size(), 64u);
  for (int64_t t : {50, 120, 200})
    for (int64_t d = -3; d <= 3; ++d) EXPECT_NE(std::find(k.begin(), k.end(), t + d), k.end()) << t + d;
}

TEST(PeerPolicies, PyramidKvGivesLowerLayersMoreTokens) {
  auto f = make("fp16", 600, 4, 2);
  auto a = make_policy("pyramidkv")->assign(f.ctx);
  std::vector<size_t> n;
  for (int64_t l = 0; l < 4; ++l) n.push_back(kept(a, f.ctx, l).size());
  EXPECT_GT(n[0], n[3]);
  for (int64_t l = 0; l + 1 < 4; ++l) EXPECT_GE(n[size_t(l)], n[size_t(l) + 1]);
  EXPECT_LE(assignment_page_bytes(f.ctx, a), f.ctx.page_budget_bytes);
}

TEST(PeerPolicies, TriAttentionKeepsItsTopScores) {
  auto f = make("fp16", 300, 1, 1);
  auto a = make_policy("tri")->assign(f.ctx);
  auto score = estimate_utility("tri", f.ctx, 0)[0].masked_fill(f.ctx.forced, -1.0);
  auto top = std::get<0>(std::get<1>(score.topk(64)).sort());
  auto k = kept(a, f.ctx, 0);
  ASSERT_EQ(k.size(), 64u);
  for (size_t i = 0; i < 64; ++i) EXPECT_EQ(k[i], top[int64_t(i)].item<int64_t>());
}

TEST(PeerPolicies, KiviQuantizesEverythingWhenItFitsAndDropsTheOldestOtherwise) {
  auto f = make("kivi2", 300, 1, 100);
  auto a = make_policy("kivi2")->assign(f.ctx);
  EXPECT_EQ(kept(a, f.ctx, 0).size(), size_t(300 - 36));
  EXPECT_TRUE(a[0][0].masked_select(f.ctx.forced.logical_not()).eq(0).all().item<bool>());
  f.ctx.page_budget_bytes = 2 * f.tiers[0].page_cost();
  auto k = kept(make_policy("kivi2")->assign(f.ctx), f.ctx, 0);
  ASSERT_EQ(k.size(), 128u);
  EXPECT_EQ(k.back(), 300 - 33);
}

TEST(PeerPolicies, KiviTierChargesItsOwnLayoutBytes) {
  const CacheTier t = make_kivi_tier(2, 64, 64);
  // 2-bit codes for K and V (1024 B each), per-channel K params (256 B), per-token V params per 32 channels (64 x 2 x 4 = 512 B).
  EXPECT_EQ(t.accounted_page_bytes, 2 * 1024u + 256u + 512u);
  std::vector<float> k(64 * 64), v(64 * 64), kq(64 * 64), vq(64 * 64);
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = float(i % 7) - 3.f;
    v[i] = float(i % 5);
  }
  kivi_quantize(2, 64, 64, k.data(), v.data(), kq.data(), vq.data());
  for (int i = 0; i < 64; ++i) {  // each key channel takes at most 4 distinct values
    std::set<float> levels;
    for (int j = 0; j < 64; ++j) levels.insert(kq[size_t(j) * 64 + i]);
    EXPECT_LE(levels.size(), 4u);
  }
}

TEST(PeerPolicies, QuestKeepsEverythingResidentAndReadsAFraction) {
  auto f = make("fp16");
  PolicyOptions o;
  o.read_fraction = 0.25;
  auto p = make_policy("quest", o);
  auto a = p->assign(f.ctx);
  EXPECT_EQ(kept(a, f.ctx, 0).size(), size_t(400 - 36));
  EXPECT_EQ(p->query_page_budget_tokens(400), 100);
}

TEST(RdrPolicy, UnlimitedBudgetKeepsTheLeastDistortingTier) {
  auto f = make("fp16,k4v4,k2v2", 300, 2, 1);
  f.ctx.page_budget_bytes = 1e12;
  auto a = make_policy("rdr")->assign(f.ctx);
  for (int64_t l = 0; l < 2; ++l)
    EXPECT_TRUE(a[size_t(l)][0].masked_select(f.ctx.forced.logical_not()).eq(0).all().item<bool>());
}

TEST(RdrPolicy, TightBudgetIsMetExactlyAndDemotionOnly) {
  auto f = make("fp16,k4v4,k2v2", 500, 2, 1);
  f.ctx.page_budget_bytes = 0.2 * f.ctx.full_fp16_bytes;
  RdrOptions o;
  o.tiers = "fp16,k4v4,k2v2";
  RdrPolicy p("rdr", o);
  auto a = p.assign(f.ctx);
  EXPECT_LE(assignment_page_bytes(f.ctx, a), f.ctx.page_budget_bytes);
  // Measured distortions are ordered: fp16 < k4v4 < k2v2.
  const auto& dk = p.key_distortion();
  EXPECT_LT(dk[0][0][0], dk[0][0][1]);
  EXPECT_LT(dk[0][0][1], dk[0][0][2]);
  // Tokens sitting in k2v2 may not be promoted.
  for (auto& v : f.ctx.layers) v.current.masked_fill_(f.ctx.forced.logical_not().unsqueeze(0), 2);
  f.ctx.page_budget_bytes = 1e12;
  auto b = p.assign(f.ctx);
  for (int64_t l = 0; l < 2; ++l) {
    auto t = b[size_t(l)][0].masked_select(f.ctx.forced.logical_not());
    EXPECT_TRUE(t.eq(2).logical_or(t.eq(kDropTier)).all().item<bool>());
  }
}

TEST(PolicyRegistry, UnknownNamesAreActionableErrors) {
  try {
    make_policy("lru");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("snapkv"), std::string::npos);
  }
}

}  // namespace
}  // namespace skv
