// Lloyd–Max levels of the sphere laws: optimality conditions checked by an independent
// quadrature (composite Simpson, float64), large-d limit against the Gaussian Lloyd–Max values.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/codecs/lloyd_max.h"
#include "core/common/error.h"

using namespace skv::codecs;

namespace {

// Composite Simpson on [a, b] of g(x) * (1 - x^2)^e, independent of the GK15 in lloyd_max.cpp.
template <class F>
double simpson(F f, double a, double b, int n = 20000) {
  const double h = (b - a) / n;
  double s = f(a) + f(b);
  for (int i = 1; i < n; ++i) s += f(a + i * h) * (i % 2 ? 4 : 2);
  return s * h / 3;
}

}  // namespace

TEST(LloydMax, LevelsSatisfyCentroidAndNearestNeighbourConditions) {
  for (int d : {64, 128}) {
    const double e = 0.5 * (d - 3);
    auto f = [e](double t) { return std::pow(std::max(0.0, 1 - t * t), e); };
    for (int b = 1; b <= 4; ++b) {
      const Codebook cb = lloyd_max(sphere_coordinate_law(d), b);
      const int k = 1 << b;
      ASSERT_EQ(int(cb.levels.size()), k);
      for (int c = 0; c + 1 < k; ++c)  // nearest neighbour: boundaries are midpoints
        EXPECT_NEAR(cb.boundaries[c], 0.5 * (cb.levels[c] + cb.levels[c + 1]), 1e-14);
      for (int c = 0; c < k; ++c) {  // centroid of each cell
        const double a = c == 0 ? -1.0 : cb.boundaries[c - 1], z = c == k - 1 ? 1.0 : cb.boundaries[c];
        const double m0 = simpson(f, a, z), m1 = simpson([&](double t) { return t * f(t); }, a, z);
        EXPECT_NEAR(cb.levels[c], m1 / m0, 1e-9 * std::sqrt(d)) << "d=" << d << " b=" << b << " c=" << c;
      }
      EXPECT_LT(cb.mse * d, 0.37);
    }
  }
}

TEST(LloydMax, LargeDimensionMatchesGaussianLloydMax) {
  const int d = 4096;
  const double sd = std::sqrt(double(d));
  const Codebook b1 = lloyd_max(sphere_coordinate_law(d), 1);
  EXPECT_NEAR(b1.levels[1] * sd, 0.7979, 1.5e-3);
  EXPECT_NEAR(b1.levels[0] * sd, -0.7979, 1.5e-3);
  const Codebook b2 = lloyd_max(sphere_coordinate_law(d), 2);
  EXPECT_NEAR(b2.levels[2] * sd, 0.4528, 1.5e-3);
  EXPECT_NEAR(b2.levels[3] * sd, 1.510, 1.5e-3);
  EXPECT_NEAR(b2.levels[0] * sd, -1.510, 1.5e-3);
}

TEST(LloydMax, PlaneRadiusAndAngleLawsGiveCentroidLevels) {
  const int d = 64;
  auto fr = [d](double r) { return r * std::pow(std::max(0.0, 1 - r * r), 0.5 * (d - 4)); };
  const Codebook cr = lloyd_max(sphere_plane_radius_law(d), 2);
  for (int c = 0; c < 4; ++c) {
    const double a = c == 0 ? 0.0 : cr.boundaries[c - 1], z = c == 3 ? 1.0 : cr.boundaries[c];
    EXPECT_NEAR(cr.levels[c], simpson([&](double r) { return r * fr(r); }, a, z) / simpson(fr, a, z), 1e-9);
  }
  // m = 2: density sin(2 psi), symmetric about pi/4
  const Codebook ca = lloyd_max(subnorm_angle_law(2), 1);
  EXPECT_NEAR(ca.boundaries[0], std::numbers::pi / 4, 1e-10);
}

TEST(LloydMax, NestedCodebookDropsLowBitToCoarseCode) {
  const int d = 64;
  const auto law = sphere_coordinate_law(d);
  for (int b = 2; b <= 4; ++b) {
    const Codebook fine = nested_lloyd_max(law, b), coarse = nested_lloyd_max(law, b - 1);
    for (int i = 0; i <= 20000; ++i) {
      const double x = -0.6 + 1.2 * i / 20000.0;
      ASSERT_EQ(fine.encode(x) >> 1, coarse.encode(x)) << "b=" << b << " x=" << x;
    }
    // encode is nearest-level (what the kernels do)
    for (int i = 0; i <= 2000; ++i) {
      const double x = -0.6 + 1.2 * i / 2000.0;
      uint32_t best = 0;
      for (uint32_t c = 1; c < fine.levels.size(); ++c)
        if (std::abs(x - fine.levels[c]) < std::abs(x - fine.levels[best])) best = c;
      ASSERT_EQ(fine.encode(x), best);
    }
  }
}

TEST(LloydMax, NestingCostIsSmallAndNonNegative) {
  const auto cost = nesting_cost(sphere_coordinate_law(64), 4);
  ASSERT_EQ(cost.size(), 4u);
  EXPECT_NEAR(cost[0].ratio(), 1.0, 1e-9);  // 1 bit: the root
  EXPECT_NEAR(cost[1].ratio(), 1.0, 1e-6);  // 2 bits: symmetric law, split at 0 is optimal anyway
  for (const auto& c : cost) {
    EXPECT_GE(c.ratio(), 1.0 - 1e-9);
    EXPECT_LT(c.ratio(), 1.08);
  }
}

TEST(LloydMax, RejectsBadArguments) {
  EXPECT_THROW(sphere_coordinate_law(2), skv::Error);
  EXPECT_THROW(lloyd_max(sphere_coordinate_law(64), 0), skv::Error);
  EXPECT_THROW(nested_lloyd_max(sphere_coordinate_law(64), 2, 3), skv::Error);
}
