// CPU check of the v7 kernel's value lookup (kernels/ada_value_table.h): with PRMT emulated, the
// byte-plane tables return every code's fp16 level bit for bit, in the (token a, token b) half2
// pairs the MMA wants, for general and symmetric codebooks; the symmetric lookup is chosen exactly
// when l(15 - c) = -l(c) holds bit for bit in fp16.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "ada_test_cache.h"
#include "kernels/ada_value_table.h"
#include "kernels/cpu/fp16.h"

namespace skv::kernels {
namespace {
namespace vt = value_table;

std::vector<uint16_t> half_bits(const std::vector<float>& levels) {
  std::vector<uint16_t> b;
  for (float x : levels) b.push_back(cpu::float_to_half(x));
  return b;
}

template <bool SYM>
void check_lookups(const std::vector<uint16_t>& bits, uint32_t seed) {
  const vt::ValueTable T = vt::make_table(bits.data());
  std::mt19937 rng(seed);
  for (int it = 0; it < 4000; ++it) {
    const uint32_t wa = rng(), wb = rng();
    uint32_t h[2][4];
    vt::value_pairs<0, SYM>(wa, wb, T, h[0]);
    vt::value_pairs<1, SYM>(wa, wb, T, h[1]);
    for (int P = 0; P < 2; ++P)
      for (int j = 0; j < 4; ++j) {
        const int n = 4 * P + j, ca = int(wa >> (4 * n)) & 15, cb = int(wb >> (4 * n)) & 15;
        ASSERT_EQ(h[P][j] & 0xFFFFu, bits[size_t(ca)]) << "nibble " << n << " code " << ca;
        ASSERT_EQ(h[P][j] >> 16, bits[size_t(cb)]) << "nibble " << n << " code " << cb;
      }
  }
}

TEST(AdaValueTable, LookupsReturnEveryLevelAndTheSymmetricTableIsChosenExactlyWhenItApplies) {
  const std::vector<float> kmeans = test::lloyd_levels(4, 128, false);  // not exactly symmetric
  std::vector<float> sym = kmeans;                                      // antisymmetrised, as the codecs' levels
  for (int c = 0; c < 8; ++c) {
    const float m = 0.5f * (sym[size_t(15 - c)] - sym[size_t(c)]);
    sym[size_t(c)] = -m;
    sym[size_t(15 - c)] = m;
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> rnd(16), rnd_sym(16);
  for (float& x : rnd) x = u(rng);  // arbitrary, unordered levels
  for (int c = 0; c < 8; ++c) {     // symmetric but unordered, with negative levels above 8 too
    rnd_sym[size_t(c)] = u(rng);
    rnd_sym[size_t(15 - c)] = -rnd_sym[size_t(c)];
  }
  std::vector<float> near_sym = sym;  // one level off by one fp16 ulp: general
  near_sym[3] = cpu::half_to_float(uint16_t(cpu::float_to_half(near_sym[3]) + 1));

  struct Case { const char* name; std::vector<float> levels; bool symmetric; };
  const std::vector<Case> cases = {{"kmeans", kmeans, false}, {"symmetric", sym, true}, {"random", rnd, false},
                                   {"random symmetric", rnd_sym, true}, {"one ulp off", near_sym, false}};
  uint32_t seed = 10;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const auto bits = half_bits(c.levels);
    EXPECT_EQ(vt::make_table(bits.data()).symmetric, c.symmetric ? 1u : 0u);
    check_lookups<false>(bits, ++seed);  // the general lookup serves every codebook
    if (c.symmetric) check_lookups<true>(bits, ++seed);
  }
}

}  // namespace
}  // namespace skv::kernels
