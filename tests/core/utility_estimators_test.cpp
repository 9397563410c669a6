// Utility estimators: mass 1 per head, zero on dropped tokens, the blends, and unrope as the exact
// inverse of the decoder's RoPE.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/common/error.h"
#include "core/policies/utility_estimators.h"

namespace skv {
namespace {

struct Ctx {
  ModelConfig config;
  std::vector<CacheTier> tiers;
  PolicyContext ctx;
};

Ctx make(int64_t N = 200) {
  Ctx c;
  c.config.n_layers = 1;
  c.config.n_heads = 4;
  c.config.n_kv_heads = 2;
  c.config.head_dim = 64;
  c.config.rope_theta = 10000;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  c.ctx.config = &c.config;
  c.ctx.tiers = &c.tiers;
  c.ctx.n_tokens = N;
  c.ctx.forced = at::zeros({N}, at::kBool);
  LayerView v;
  v.keys = at::randn({2, N, 64}, gen);
  v.values = at::randn({2, N, 64}, gen);
  v.current = at::full({2, N}, kHotTier, at::kInt);
  v.current[1][7] = kDropTier;
  v.obs_queries = at::randn({4, 16, 64}, gen);
  v.obs_pos = at::arange(N - 16, N, at::kLong);
  v.accumulated = at::rand({2, N}, gen);
  v.seen_by = (N - at::arange(N, at::kLong)).to(at::kFloat);
  c.ctx.layers.push_back(v);
  return c;
}

TEST(UtilityEstimators, EveryEstimatorIsADistributionOverCachedTokens) {
  auto c = make();
  for (const auto& name : utility_estimator_names()) {
    auto u = estimate_utility(name, c.ctx, 0);
    ASSERT_EQ(u.sizes(), (std::vector<int64_t>{2, 200})) << name;
    EXPECT_TRUE(u.ge(0).all().item<bool>()) << name;
    EXPECT_NEAR(u[0].sum().item<double>(), 1.0, 1e-5) << name;
    EXPECT_NEAR(u[1].sum().item<double>(), 1.0, 1e-5) << name;
    EXPECT_EQ(u[1][7].item<float>(), 0.f) << name;
  }
}

TEST(UtilityEstimators, BlendIsTheWeightedMixOfNormalizedParts) {
  auto c = make();
  auto a = estimate_utility("h2o", c.ctx, 0), b = estimate_utility("recency", c.ctx, 0);
  auto m = estimate_utility("h2o*0.25+recency*0.75", c.ctx, 0);
  EXPECT_LT((m - (0.25 * a + 0.75 * b)).abs().max().item<double>(), 1e-6);
  EXPECT_THROW(estimate_utility("nope", c.ctx, 0), Error);
  EXPECT_THROW(estimate_utility("h2o*x+recency", c.ctx, 0), Error);
}

TEST(UtilityEstimators, ObservationWindowIsSoftmaxOfTheWindowQueries) {
  auto c = make(50);
  auto u = estimate_utility("obs", c.ctx, 0);
  const auto& v = c.ctx.layers[0];
  // Head 0 = query heads 0, 1; by hand.
  auto want = at::zeros({50}, at::kDouble);
  for (int64_t qh = 0; qh < 2; ++qh)
    for (int64_t w = 0; w < 16; ++w) {
      const int64_t qp = v.obs_pos[w].item<int64_t>();
      auto s = at::matmul(v.keys[0].narrow(0, 0, qp + 1), v.obs_queries[qh][w]).to(at::kDouble) / 8.0;
      want.narrow(0, 0, qp + 1) += at::softmax(s, 0);
    }
  want /= want.sum();
  EXPECT_LT((u[0].to(at::kDouble) - want).abs().max().item<double>(), 1e-5);
}

TEST(UtilityEstimators, UnropeInvertsRope) {
  ModelConfig c;
  c.rope_theta = 100000;
  for (auto style : {RopeStyle::Interleaved, RopeStyle::Half}) {
    c.rope_style = style;
    auto x = at::randn({3, 10, 64});
    auto pos = at::arange(100, 110, at::kLong);
    // Forward RoPE as the decoder applies it.
    auto i = at::arange(32, at::TensorOptions().dtype(at::kDouble));
    auto ang = at::outer(pos.to(at::kFloat), at::pow(c.rope_theta, -2.0 * i / 64.0).to(at::kFloat));
    at::Tensor y;
    if (style == RopeStyle::Interleaved) {
      auto xp = x.reshape({3, 10, 32, 2});
      auto a = xp.select(-1, 0), b = xp.select(-1, 1);
      y = at::stack({a * ang.cos() - b * ang.sin(), a * ang.sin() + b * ang.cos()}, -1).reshape(x.sizes());
    } else {
      auto a = x.narrow(-1, 0, 32), b = x.narrow(-1, 32, 32);
      y = at::cat({a * ang.cos() - b * ang.sin(), a * ang.sin() + b * ang.cos()}, -1);
    }
    EXPECT_LT((unrope(y, pos, c) - x).abs().max().item<double>(), 1e-4);
  }
}

}  // namespace
}  // namespace skv
