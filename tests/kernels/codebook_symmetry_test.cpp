// codebooks_symmetric (kernels/page_table.h), the host test behind v7's symmetric build: true for
// v7 tiers whose key levels need only the odd bit planes and whose fp16 value levels are
// antisymmetric bit for bit, false as soon as either fails or the tier is not v7's.
#include <gtest/gtest.h>

#include <vector>

#include "ada_test_cache.h"
#include "kernels/cpu/fp16.h"
#include "kernels/page_table.h"

namespace skv::kernels {
namespace {

std::vector<float> antisymmetrised(std::vector<float> L) {
  for (size_t k = 0; k < L.size() / 2; ++k) {
    const float m = 0.5f * (L[L.size() - 1 - k] - L[k]);
    L[k] = -m;
    L[L.size() - 1 - k] = m;
  }
  return L;
}

TEST(CodebookSymmetry, OnlyV7TiersWithSymmetricKeyAndValueLevels) {
  const TierLayout v7 = test::coord_tier(128, 3, 4);
  const std::vector<float> k_kmeans = test::lloyd_levels(3, 128, false), v_kmeans = test::lloyd_levels(4, 128, false);
  const std::vector<float> k_sym = antisymmetrised(k_kmeans), v_sym = antisymmetrised(v_kmeans);
  EXPECT_TRUE(codebooks_symmetric(v7, k_sym.data(), v_sym.data()));
  EXPECT_TRUE(codebooks_symmetric(test::coord_tier(64, 3, 4, false), k_sym.data(), v_sym.data()));
  EXPECT_FALSE(codebooks_symmetric(v7, k_kmeans.data(), v_sym.data()));  // general key planes
  EXPECT_FALSE(codebooks_symmetric(v7, k_sym.data(), v_kmeans.data()));  // value levels
  std::vector<float> v_off = v_sym;                                      // one fp16 ulp off
  v_off[2] = cpu::half_to_float(uint16_t(cpu::float_to_half(v_off[2]) + 1));
  EXPECT_FALSE(codebooks_symmetric(v7, k_sym.data(), v_off.data()));
  std::vector<float> k_shift = k_sym;  // a constant shift keeps the odd planes (plus a constant)
  for (float& x : k_shift) x += 0.01f;
  EXPECT_TRUE(codebooks_symmetric(v7, k_shift.data(), v_sym.data()));
  std::vector<float> k_off = k_sym;  // a pair term y0 y1 of 1e-4 of the largest level: general
  for (int c = 0; c < 8; ++c) k_off[size_t(c)] += 1e-4f * k_sym[7] * float((1 - 2 * (c & 1)) * (1 - 2 * ((c >> 1) & 1)));
  EXPECT_FALSE(codebooks_symmetric(v7, k_off.data(), v_sym.data()));
  EXPECT_FALSE(codebooks_symmetric(test::coord_tier(128, 3, 2), k_sym.data(), v_sym.data()));  // not v7's tier
  EXPECT_FALSE(codebooks_symmetric(v7, nullptr, v_sym.data()));
}

}  // namespace
}  // namespace skv::kernels
