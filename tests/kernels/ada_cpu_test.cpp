// CPU reference tests: the truth must itself be right before CUDA kernels are checked against it.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <cstring>
#include <random>

#include "ada_test_cache.h"
#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"
#include "kernels/kernel_error.h"

namespace skv::kernels {
namespace {

using test::make_cache;

TEST(AdaCpu, RandomizedHadamardIsOrthogonalInFloat64) {
  for (int d : {64, 128}) {
    std::mt19937 rng(1);
    std::vector<int8_t> s(d);
    for (auto& x : s) x = (rng() & 1) ? 1 : -1;
    std::vector<std::vector<double>> cols(d, std::vector<double>(d));
    std::vector<float> e(d);
    for (int j = 0; j < d; ++j) {
      std::fill(e.begin(), e.end(), 0.f);
      e[j] = 1.f;
      cpu::rotate(s.data(), e.data(), cols[j].data(), d);
    }
    double worst = 0;
    for (int a = 0; a < d; ++a)
      for (int b = 0; b < d; ++b) {
        double dot = 0;
        for (int i = 0; i < d; ++i) dot += cols[a][i] * cols[b][i];
        worst = std::max(worst, std::fabs(dot - (a == b ? 1.0 : 0.0)));
      }
    EXPECT_LT(worst, 1e-12) << "d=" << d;
    // Pi^T Pi x = x
    std::vector<float> x(d);
    std::vector<double> y(d), z(d);
    for (auto& v : x) v = float(rng() % 1000) / 100.f - 5.f;
    cpu::rotate(s.data(), x.data(), y.data(), d);
    cpu::rotate_transpose(s.data(), y.data(), z.data(), d);
    for (int i = 0; i < d; ++i) EXPECT_NEAR(z[i], x[i], 1e-12);
  }
}

TEST(AdaCpu, CodesRoundTripAcrossWordBoundaries) {
  std::vector<uint32_t> w(8, 0);
  for (int cb : {1, 3, 5, 6, 7}) {
    std::fill(w.begin(), w.end(), 0u);
    const int G = 256 / cb;
    for (int g = 0; g < G; ++g) cpu::write_code(w.data(), g, cb, uint32_t(g * 7 + 3) & ((1u << cb) - 1));
    for (int g = 0; g < G; ++g) EXPECT_EQ(cpu::read_code(w.data(), g, cb), uint32_t(g * 7 + 3) & ((1u << cb) - 1));
  }
}

TEST(AdaCpu, PageBytesMatchTheTargetTier) {
  // coord-lloyd 3-bit keys + 4-bit values, d=128, P=64 (the performance target's tier).
  const TierLayout L = test::coord_tier(128, 3, 4);
  const PageOffsets o = page_offsets(L);
  EXPECT_EQ(o.key_codes, 0u);
  EXPECT_EQ(o.key_scales, 64u * 12 * 4);
  EXPECT_EQ(o.values, o.key_scales + 128);
  EXPECT_EQ(o.value_scales, o.values + 64u * 16 * 4);
  EXPECT_EQ(o.mean, o.value_scales + 128);
  EXPECT_EQ(o.total, o.mean + 256);
  EXPECT_DOUBLE_EQ(key_bits_per_element(L), (3072.0 + 128 + 256) * 8 / (64 * 128));  // 3.375
  EXPECT_DOUBLE_EQ(value_bits_per_element(L), (4096.0 + 128) * 8 / (64 * 128));      // 4.125
  EXPECT_DOUBLE_EQ(bytes_per_token_per_head(L), (7680.0 + kPageMetaBytes) / 64);
  // fp16 page: keys and values only.
  EXPECT_EQ(page_bytes(test::fp16_tier(128)), 2u * 64 * 128 * 2);
  // Odd sizes still keep every array 16-byte aligned.
  const TierLayout odd = test::pair_tier(64, 3, 2, 3, true, 40);
  const PageOffsets p = page_offsets(odd);
  for (size_t x : {p.key_scales, p.values, p.value_scales, p.mean, p.total}) EXPECT_EQ(x % 16, 0u);
}

TEST(AdaCpu, EncoderWritesOnlyTheBytesTheLayoutCounts) {
  for (const TierLayout& L : {test::coord_tier(128, 3, 4), test::pair_tier(64, 3, 2, 3, true, 40),
                              test::coord_tier(64, 2, 2, false, 32), test::fp16_tier(64, 32)}) {
    const auto kl = L.key_kind == KeyKind::kPair ? test::lloyd_levels(L.key_radius_bits, L.head_dim, true)
                                                 : test::lloyd_levels(std::max(1, L.key_bits), L.head_dim, false);
    const auto vl = test::lloyd_levels(L.value_bits, L.head_dim, false);
    const TierCodebooks books{kl.data(), vl.data()};
    const size_t bytes = page_bytes(L);
    std::vector<uint8_t> buf(bytes + 64, 0xEE);
    std::vector<float> k(size_t(L.page_tokens) * L.head_dim, 0.5f), v = k;
    std::vector<int8_t> s(L.head_dim, 1);
    cpu::encode_page(L, books, s.data(), k.data(), v.data(), L.page_tokens, 0, true, buf.data());
    for (size_t i = bytes; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0xEE) << "byte " << i << " past the page";
  }
}

// Relative error of decoded rows against the originals (mean removed, so the codec's own error).
double codec_error(const TierLayout& L, bool keys) {
  const auto c = make_cache(1, 2, L.head_dim, {L}, {200, 131}, [](int, int, int) { return 0; }, 5);
  double num = 0, den = 0;
  for (size_t h = 0; h < 2; ++h) {
    const auto& x = keys ? c.k[h] : c.v[h];
    const auto& y = keys ? c.k_hat[h] : c.v_hat[h];
    const int d = L.head_dim, n = int(x.size()) / d;
    for (int p0 = 0; p0 < n; p0 += L.page_tokens) {
      const int p1 = std::min(n, p0 + L.page_tokens);
      std::vector<double> m(d, 0.0);
      for (int j = p0; j < p1; ++j) for (int i = 0; i < d; ++i) m[i] += x[size_t(j) * d + i] / (p1 - p0);
      for (int j = p0; j < p1; ++j)
        for (int i = 0; i < d; ++i) {
          const double e = double(x[size_t(j) * d + i]) - double(y[size_t(j) * d + i]);
          const double r = double(x[size_t(j) * d + i]) - (keys ? m[i] : 0.0);
          num += e * e; den += r * r;
        }
    }
  }
  return std::sqrt(num / den);
}

TEST(AdaCpu, EncodeDecodeErrorIsThatOfTheCodebook) {
  // Lloyd-Max on N(0,1) has relative RMS error 0.363 / 0.188 / 0.097 at 2 / 3 / 4 bits.
  EXPECT_LT(codec_error(test::coord_tier(128, 3, 4), true), 0.21);
  EXPECT_LT(codec_error(test::coord_tier(128, 3, 4), false), 0.11);
  EXPECT_LT(codec_error(test::coord_tier(64, 2, 3), true), 0.40);
  EXPECT_LT(codec_error(test::coord_tier(64, 2, 3), false), 0.21);
  EXPECT_LT(codec_error(test::pair_tier(128, 3, 2, 4), true), 0.30);
  EXPECT_LT(codec_error(test::fp16_tier(128), true), 1e-3);
}

TEST(AdaCpu, LutLogitsEqualLogitsOfExplicitlyDecodedKeys) {
  for (const TierLayout& L : {test::coord_tier(128, 3, 4), test::coord_tier(64, 4, 4, false),
                              test::pair_tier(128, 3, 2, 4), test::pair_tier(64, 2, 3, 3, false, 48)}) {
    const auto c = make_cache(1, 1, L.head_dim, {L}, {L.page_tokens - 5}, [](int, int, int) { return 0; }, 11);
    const auto q = test::random_queries(1, 1, L.head_dim, 3, 1.0f);
    const PagedKv kv = c.view();
    const int n = L.page_tokens - 5, d = L.head_dim;
    std::vector<float> lut(static_cast<size_t>(n));
    cpu::page_logits(L, kv.tiers.codebooks[0], c.signs.data(), c.arena.data() + c.pages[0].byte_offset, n, q.data(),
                     0.f, lut.data());
    double worst = 0, mag = 0;
    for (int j = 0; j < n; ++j) {
      double ref = 0, absdot = 0;
      for (int i = 0; i < d; ++i) {
        ref += double(q[i]) * double(c.k_hat[0][size_t(j) * d + i]);
        absdot += std::fabs(double(q[i]) * double(c.k_hat[0][size_t(j) * d + i]));
      }
      ref /= std::sqrt(double(d));
      worst = std::max(worst, std::fabs(ref - lut[size_t(j)]) / (absdot / std::sqrt(double(d))));
      mag = std::max(mag, std::fabs(ref));
    }
    EXPECT_LT(worst, 1e-6) << "kind " << int(L.key_kind) << " d=" << d;  // fp32 rounding of k^ and of the logit
    EXPECT_GT(mag, 0.1);
  }
}

// ADA attention over a page table == float64 attention over the explicitly decoded rows.
void check_ada_against_decoded(int batch, int hkv, int group, int d, const std::vector<TierLayout>& tiers,
                               const std::vector<int>& tokens, uint32_t seed) {
  const auto c = make_cache(batch, hkv, d, tiers, tokens,
                            [&](int b, int h, int p) { return (b + h + p * 7 + p / 3) % int(tiers.size()); }, seed);
  const int hq = hkv * group;
  const auto q = test::random_queries(batch, hq, d, seed + 1, 0.5f);
  std::vector<float> out(q.size(), NAN);
  cpu::ada_decode_attention(c.view(), q.data(), out.data(), hq, 0.f);
  std::vector<double> ref(q.size());
  for (int b = 0; b < batch; ++b)
    for (int qh = 0; qh < hq; ++qh) {
      const size_t bh = size_t(b) * hkv + qh / group, at = (size_t(b) * hq + qh) * d;
      test::naive_attention(q.data() + at, c.k_hat[bh], c.v_hat[bh], d, 1.0 / std::sqrt(double(d)), ref.data() + at);
    }
  EXPECT_LT(test::rel_error(out, ref), 1e-5);
}

TEST(AdaCpu, AdaAttentionEqualsFloat64AttentionOverDecodedRows_MixedTiersUnevenPages) {
  const int d = 128;
  check_ada_against_decoded(2, 2, 4, d,
                            {test::coord_tier(d, 3, 4), test::fp16_tier(d), test::pair_tier(d, 3, 2, 4),
                             test::coord_tier(d, 2, 2, false)},
                            {1, 200, 64 * 3, 77}, 21);
  check_ada_against_decoded(1, 3, 3, 64, {test::coord_tier(64, 4, 4, true, 32), test::pair_tier(64, 2, 2, 3, true, 32)},
                            {33, 95, 130}, 22);
}

TEST(AdaCpu, DenseFp16AttentionEqualsFloat64NaiveAttention) {
  const int d = 64;
  const auto c = make_cache(2, 2, d, {test::fp16_tier(d, 32)}, {5, 70, 96, 33}, [](int, int, int) { return 0; }, 31);
  const auto q = test::random_queries(2, 4, d, 9, 0.7f);
  std::vector<float> out(q.size(), NAN);
  cpu::dense_fp16_decode_attention(c.view(), q.data(), out.data(), 4, 0.f);
  std::vector<double> ref(q.size());
  for (int b = 0; b < 2; ++b)
    for (int qh = 0; qh < 4; ++qh) {
      const size_t bh = size_t(b) * 2 + qh / 2, at = (size_t(b) * 4 + qh) * d;
      std::vector<float> k16 = c.k[bh], v16 = c.v[bh];  // the fp16 rows the page holds
      for (auto& x : k16) x = cpu::round_to_half(x);
      for (auto& x : v16) x = cpu::round_to_half(x);
      test::naive_attention(q.data() + at, k16, v16, d, 1.0 / std::sqrt(double(d)), ref.data() + at);
    }
  EXPECT_LT(test::rel_error(out, ref), 1e-6);
}

TEST(AdaCpu, DenseAttentionRejectsCodedPages) {
  const auto c = make_cache(1, 1, 64, {test::coord_tier(64, 3, 4)}, {10}, [](int, int, int) { return 0; }, 3);
  const auto q = test::random_queries(1, 1, 64, 1);
  std::vector<float> out(64);
  EXPECT_THROW(cpu::dense_fp16_decode_attention(c.view(), q.data(), out.data(), 1, 0.f), KernelError);
}

TEST(AdaCpu, HeadWithNoPagesGivesZeros) {
  const auto c = make_cache(1, 2, 64, {test::coord_tier(64, 3, 4)}, {0, 10}, [](int, int, int) { return 0; }, 3);
  const auto q = test::random_queries(1, 2, 64, 1);
  std::vector<float> out(q.size(), NAN);
  cpu::ada_decode_attention(c.view(), q.data(), out.data(), 2, 0.f);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(out[size_t(i)], 0.f);
  EXPECT_FALSE(std::isnan(out[64]));
}

TEST(AdaCpu, ValidateLayoutRejectsKindsTheKernelsDoNotKnow) {
  TierLayout l = test::coord_tier(128, 3, 4);
  EXPECT_EQ(validate_layout(l), nullptr);
  l.key_kind = static_cast<KeyKind>(7);  // e.g. a CPU-only codec's layout forced into a kernel
  ASSERT_NE(validate_layout(l), nullptr);
  EXPECT_NE(std::string(validate_layout(l)).find("key kind"), std::string::npos);
  l = test::coord_tier(128, 3, 4);
  l.value_kind = static_cast<ValueKind>(5);
  ASSERT_NE(validate_layout(l), nullptr);
  EXPECT_NE(std::string(validate_layout(l)).find("value kind"), std::string::npos);
}

}  // namespace
}  // namespace skv::kernels
