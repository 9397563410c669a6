// The Lagrangian allocator: optimal for the bytes it spends (brute force on small cases), never
// over budget, respects allowed options and an exact (page-packing) rate.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "core/common/error.h"
#include "core/policies/lagrangian_allocator.h"

namespace skv {
namespace {

// Random problem: option 0 drop (rate 0), then increasingly expensive, less distorting tiers.
AllocationProblem random_problem(int64_t M, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  AllocationProblem p;
  p.rate = at::tensor({0.0, 1.0, 2.5, 4.0}, at::kDouble);
  auto u = at::rand({M, 1}, gen, at::TensorOptions().dtype(at::kDouble)) + 0.05;
  auto base = at::rand({M, 1}, gen, at::TensorOptions().dtype(at::kDouble)) + 0.5;
  auto delta = at::tensor({1.0, 0.3, 0.08, 0.0}, at::kDouble).unsqueeze(0);
  p.distortion = u * base * delta + 0.01 * at::rand({M, 4}, gen, at::TensorOptions().dtype(at::kDouble)) * delta;
  return p;
}

double brute_force_min(const AllocationProblem& p, double budget) {
  const int64_t M = p.distortion.size(0), K = p.rate.size(0);
  auto D = p.distortion.accessor<double, 2>();
  auto R = p.rate.accessor<double, 1>();
  double best = std::numeric_limits<double>::infinity();
  std::vector<int64_t> c(size_t(M), 0);
  while (true) {
    double r = 0, d = 0;
    bool ok = true;
    for (int64_t m = 0; m < M; ++m) {
      if (p.allowed.defined() && !p.allowed[m][c[size_t(m)]].item<bool>()) ok = false;
      r += R[c[size_t(m)]];
      d += D[m][c[size_t(m)]];
    }
    if (ok && r <= budget + 1e-9) best = std::min(best, d);
    int64_t m = 0;
    while (m < M && ++c[size_t(m)] == K) c[size_t(m++)] = 0;
    if (m == M) break;
  }
  return best;
}

TEST(LagrangianAllocator, MatchesBruteForceForTheBytesItSpends) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    auto p = random_problem(7, seed);
    for (double budget : {0.0, 3.0, 7.5, 12.0, 20.0, 28.0}) {
      p.budget = budget;
      auto r = lagrangian_allocate(p);
      EXPECT_LE(r.bytes, budget + 1e-9);
      // Lagrangian sufficiency: no choice spending at most r.bytes has less distortion.
      EXPECT_NEAR(r.distortion, brute_force_min(p, r.bytes), 1e-12) << "seed " << seed << " budget " << budget;
      // And the duality gap against the whole budget is small on these problems.
      EXPECT_LE(r.distortion, brute_force_min(p, budget) + 0.5) << "seed " << seed << " budget " << budget;
    }
  }
}

TEST(LagrangianAllocator, UnconstrainedBudgetTakesTheLeastDistortion) {
  auto p = random_problem(20, 11);
  p.budget = 1e9;
  auto r = lagrangian_allocate(p);
  EXPECT_TRUE(r.choice.eq(3).all().item<bool>());
  EXPECT_EQ(r.lambda, 0.0);
}

TEST(LagrangianAllocator, RespectsAllowedOptions) {
  auto p = random_problem(6, 12);
  p.allowed = at::ones({6, 4}, at::kBool);
  p.allowed[0][0] = false;  // item 0 may not be dropped
  p.allowed[1][3] = false;  // item 1 may not be promoted to the top option
  p.allowed[1][2] = false;
  p.budget = 2.0;
  auto r = lagrangian_allocate(p);
  EXPECT_NE(r.choice[0].item<int64_t>(), 0);
  EXPECT_LT(r.choice[1].item<int64_t>(), 2);
  EXPECT_NEAR(r.distortion, brute_force_min(p, r.bytes), 1e-12);
}

TEST(LagrangianAllocator, MeetsAnExactPagePackingRate) {
  auto p = random_problem(40, 13);
  // Pages of 8 items per option: ceil(n / 8) * 8 * rate.
  p.exact_rate = [&](const at::Tensor& c) {
    double b = 0;
    for (int64_t k = 1; k < 4; ++k) b += std::ceil(c.eq(k).sum().item<double>() / 8.0) * 8.0 * p.rate[k].item<double>();
    return b;
  };
  for (double budget : {10.0, 40.0, 75.0}) {
    p.budget = budget;
    auto r = lagrangian_allocate(p);
    EXPECT_LE(r.bytes, budget);
    EXPECT_DOUBLE_EQ(r.bytes, p.exact_rate(r.choice));
  }
}

TEST(LagrangianAllocator, BudgetBelowTheCheapestChoiceThrows) {
  auto p = random_problem(5, 14);
  p.allowed = at::ones({5, 4}, at::kBool);
  p.allowed.select(1, 0).fill_(false);  // nothing may be dropped: at least 5 x 1.0 bytes
  p.budget = 4.0;
  EXPECT_THROW(lagrangian_allocate(p), Error);
}

}  // namespace
}  // namespace skv
