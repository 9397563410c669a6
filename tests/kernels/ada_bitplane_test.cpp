// CPU check of the v6 kernel's bit-plane scoring algebra (kernels/ada_bitplane.h): the plane
// decomposition reproduces every 3-bit codebook level, and an integer emulation of the kernel's
// MMA path (the same plane words and B-table words the CUDA kernel builds, summed the way
// mma.m16n8k32 u8 x s8 -> s32 sums them) gives q'.l(c) within 1e-6 of a float64 dot product.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "ada_test_cache.h"
#include "kernels/ada_bitplane.h"

namespace skv::kernels {
namespace {
namespace bp = bitplane;

std::vector<std::vector<float>> codebooks() {
  std::vector<std::vector<float>> out;
  out.push_back(test::lloyd_levels(3, 128, false));  // k-means levels: not exactly symmetric
  std::vector<float> sym = out.back();               // antisymmetrised: the fast (4-plane) case
  for (int c = 0; c < 4; ++c) {
    const float m = 0.5f * (sym[size_t(7 - c)] - sym[size_t(c)]);
    sym[size_t(c)] = -m;
    sym[size_t(7 - c)] = m;
  }
  out.push_back(sym);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> rnd(8);
  for (float& x : rnd) x = u(rng);  // arbitrary, unordered levels
  out.push_back(rnd);
  return out;
}

TEST(AdaBitplane, PlaneDecompositionReproducesEveryLevel) {
  const auto cbs = codebooks();
  for (size_t i = 0; i < cbs.size(); ++i) {
    const auto& L = cbs[i];
    const bp::Coefficients k = bp::coefficients(L.data());
    EXPECT_EQ(k.general, i != 1) << "codebook " << i;
    double mx = 0;
    for (float x : L) mx = std::max(mx, std::fabs(double(x)));
    for (int c = 0; c < 8; ++c) {
      double v = k.constant;
      for (int S = 1; S < 8; ++S) {
        const int m = c & S, par = (m ^ (m >> 1) ^ (m >> 2)) & 1;
        v += double(k.kappa[S]) * par;
      }
      EXPECT_NEAR(v, double(L[size_t(c)]), 1e-6 * mx) << "codebook " << i << " code " << c;
    }
  }
}

// Integer emulation of one token's MMA scoring: returns q'_h . l(c) for every head.
template <int D, bool GEN>
std::vector<double> emulate(const std::vector<uint32_t>& row, const std::vector<float>& q_rot, int nh,
                            const bp::Coefficients& k, const std::vector<int>& E) {
  constexpr int NWORDS = bp::plane_words(D, GEN);
  long long acc[2][8] = {};
  for (int tig = 0; tig < 4; ++tig) {
    uint32_t W[bp::plane_words(D, true)];
    bp::lane_plane_words<D, GEN>(row.data(), tig, W);
    for (int w = 0; w < NWORDS; ++w)
      for (int u = 0; u < 4; ++u)
        for (int r = 0; r < 2; ++r) {
          const int s = 2 * u + r, step = 4 * w + u;
          for (int n = 0; n < 8; ++n)
            for (int m = 0; m < 2; ++m) {
              const uint32_t bw = bp::table_word(D, nh, step, n * 4 + tig, 2 * m + r, k, q_rot.data(), E.data());
              for (int j = 0; j < 4; ++j) {
                const long long a = (W[w] & (0x01010101u << s)) >> (8 * j) & 0xFFu;  // byte j: bit * 2^s
                acc[m][n] += a * int8_t(uint8_t(bw >> (8 * j)));
              }
            }
        }
  }
  std::vector<double> out(static_cast<size_t>(nh));
  for (int h = 0; h < nh; ++h) {
    double sq = 0;
    for (int i = 0; i < D; ++i) sq += q_rot[size_t(i * nh + h)];
    const double x = double(acc[0][2 * h]) + double(acc[0][2 * h + 1]) * 256.0 + double(acc[1][2 * h]) * 65536.0 +
                     double(acc[1][2 * h + 1]) * 16777216.0;
    out[size_t(h)] = double(k.constant) * sq + std::ldexp(x, -E[size_t(h)]);
  }
  return out;
}

template <int D>
void check_scores(const std::vector<float>& levels, int nh, uint32_t seed) {
  std::mt19937 rng(seed);
  const bp::Coefficients k = bp::coefficients(levels.data());
  std::normal_distribution<float> nd(0.f, 1.f);
  for (float qscale : {1e-3f, 0.6f, 40.f}) {
    std::vector<float> q(size_t(D * nh));
    for (float& x : q) x = qscale * nd(rng);
    std::vector<int> E(static_cast<size_t>(nh));
    float kmax = 0;
    for (int S = 1; S < 8; ++S) kmax = std::max(kmax, std::fabs(k.kappa[S]));
    for (int h = 0; h < nh; ++h) {
      float qmax = 0;
      for (int i = 0; i < D; ++i) qmax = std::max(qmax, std::fabs(q[size_t(i * nh + h)]));
      E[size_t(h)] = bp::head_exponent(kmax * qmax);
    }
    for (int tok = 0; tok < 6; ++tok) {
      std::vector<uint32_t> row(size_t(3 * D / 32 + 1), 0u);
      std::vector<int> codes(D);
      for (int i = 0; i < D; ++i) {
        codes[size_t(i)] = int(rng() & 7u);
        const int bit = 3 * i;
        row[size_t(bit >> 5)] |= uint32_t(codes[size_t(i)]) << (bit & 31);
        if ((bit & 31) > 29) row[size_t((bit >> 5) + 1)] |= uint32_t(codes[size_t(i)]) >> (32 - (bit & 31));
      }
      row.back() = rng();  // the word past the row is someone else's: must not matter
      const auto got = k.general ? emulate<D, true>(row, q, nh, k, E) : emulate<D, false>(row, q, nh, k, E);
      for (int h = 0; h < nh; ++h) {
        double ref = 0, mag = 0;
        for (int i = 0; i < D; ++i) {
          const double t = double(q[size_t(i * nh + h)]) * double(levels[size_t(codes[size_t(i)])]);
          ref += t;
          mag += std::fabs(t);
        }
        EXPECT_NEAR(got[size_t(h)], ref, 1e-6 * mag) << "D " << D << " nh " << nh << " head " << h << " qscale " << qscale;
      }
    }
  }
}

TEST(AdaBitplane, IntegerMmaEmulationMatchesFloat64DotProducts) {
  uint32_t seed = 5;
  for (const auto& L : codebooks())
    for (int nh : {1, 2, 4}) {
      check_scores<128>(L, nh, ++seed);
      check_scores<64>(L, nh, ++seed);
    }
}

}  // namespace
}  // namespace skv::kernels
