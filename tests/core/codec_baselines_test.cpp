// Scalar baselines against a float64 re-implementation on a small block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/codecs/rotation_signs.h"
#include "core/codecs/scalar_baselines.h"
#include "kernels/cpu/fp16.h"

using namespace skv::codecs;

namespace {
double h(double x) { return skv::kernels::cpu::round_to_half(float(x)); }
}

TEST(ScalarBaselines, KiviPerChannelMatchesFloat64Reference) {
  const int n = 300, d = 8, bits = 3, G = 128;  // two full groups + a partial one
  std::mt19937_64 rng(5);
  std::normal_distribution<float> g;
  std::vector<float> x(size_t(n) * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = g(rng) * float(1 + i % d) + float(i % d);
  const QuantizedBlock q = kivi_per_channel(x.data(), n, d, bits, G);
  int groups = 0;
  for (int t0 = 0; t0 < n; t0 += G) {
    const int cnt = std::min(G, n - t0);
    for (int c = 0; c < d; ++c, ++groups) {
      double lo = 1e300, hi = -1e300;
      for (int t = t0; t < t0 + cnt; ++t) { lo = std::min(lo, double(x[size_t(t) * d + c])); hi = std::max(hi, double(x[size_t(t) * d + c])); }
      const double s = h((hi - lo) / 7.0), z = h(lo);
      for (int t = t0; t < t0 + cnt; ++t) {
        const double v = x[size_t(t) * d + c];
        const double code = std::clamp(std::nearbyint((v - z) / s), 0.0, 7.0);
        EXPECT_NEAR(q.recon[size_t(t) * d + c], z + code * s, 2e-6 * (1 + std::abs(v))) << t << "," << c;
      }
    }
  }
  EXPECT_DOUBLE_EQ(q.bits_per_element, (double(n) * d * bits + 32.0 * groups) / (double(n) * d));
  // full 128-token groups: b + 32/128
  EXPECT_DOUBLE_EQ(kivi_per_channel(x.data(), 256, d, 3, 128).bits_per_element, 3.25);
}

TEST(ScalarBaselines, PerTokenGroupBitsAndError) {
  const int n = 16, d = 64;
  std::mt19937_64 rng(6);
  std::normal_distribution<float> g;
  std::vector<float> x(size_t(n) * d);
  for (auto& v : x) v = g(rng);
  const QuantizedBlock q3 = per_token_int(x.data(), n, d, 3, 32), q4 = per_token_int(x.data(), n, d, 4, 32);
  EXPECT_DOUBLE_EQ(q3.bits_per_element, 4.0);  // design's "per-token group-32 int3 at 4.0 b"
  double e3 = 0, e4 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e3 += (x[i] - q3.recon[i]) * (x[i] - q3.recon[i]);
    e4 += (x[i] - q4.recon[i]) * (x[i] - q4.recon[i]);
  }
  EXPECT_LT(e4, e3 * 0.5);
  // rotation is orthogonal: an 8-bit rotated round trip is near lossless
  const auto s = hadamard_signs(1, 0, 0, d);
  const QuantizedBlock r8 = rotated_per_token_int(x.data(), n, d, 8, d, s.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(r8.recon[i], x[i], 0.05);
}
