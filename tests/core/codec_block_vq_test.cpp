// block-vq, the 4-D / 8-D spherical code: nearest-codeword encoding by brute force, lower
// direction error than scalar Lloyd–Max at equal bits, LUT-scored logits equal logits of
// explicitly decoded keys, rate = bytes of a real page, and a clear refusal on the kernel path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "core/codecs/block_vq.h"
#include "core/codecs/block_vq_page.h"
#include "core/codecs/direction_codec.h"
#include "core/codecs/rotation_signs.h"
#include "core/codecs/tier_demotion.h"
#include "core/codecs/tier_format.h"
#include "core/direction_samples.h"
#include "core/common/error.h"
#include "kernels/cpu/ada_reference.h"

using namespace skv::codecs;

namespace {

using skv::test_inputs::mean_direction_mse;
using skv::test_inputs::random_unit;

TierFormat vq_tier(int D, int bits, int value_bits, bool mean) {
  nlohmann::json j = {{"name", "vqtest"},
                      {"key", {{"codec", "block-vq"}, {"dim", D}, {"bits", bits}}},
                      {"value", value_bits ? nlohmann::json{{"codec", "coord-lloyd"}, {"bits", value_bits}}
                                           : nlohmann::json{{"codec", "fp16"}}},
                      {"page_mean", mean},
                      {"page_tokens", 64}};
  return parse_tier_format(j, "vqtest");
}

std::vector<float> keys_with_mean(int n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> x(size_t(n) * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = g(rng) * (i % d == 5 ? 6.f : 1.f) + (i % d == 3 ? 4.f : 0.5f);
  return x;
}

}  // namespace

TEST(BlockVq, EncodeIsTheNearestOfAllCodewordsByBruteForce) {
  for (auto [D, bits] : {std::pair{4, 8}, std::pair{2, 6}, std::pair{8, 10}}) {
    const BlockVqCodebook& cb = cached_block_vq(64, D, bits);
    ASSERT_EQ(cb.size(), 1 << bits);
    std::mt19937_64 rng(11);
    std::normal_distribution<double> g(0.0, 1.0 / 8);
    std::vector<double> w(D);
    for (int t = 0; t < 300; ++t) {
      std::vector<double> y(D);
      for (auto& a : y) a = g(rng);
      const uint32_t c = cb.encode(y.data());
      double best = 1e300;
      for (uint32_t k = 0; k < uint32_t(cb.size()); ++k) {
        cb.codeword(k, w.data());
        double s = 0;
        for (int i = 0; i < D; ++i) s += (y[i] - w[i]) * (y[i] - w[i]);
        best = std::min(best, s);
      }
      cb.codeword(c, w.data());
      double s = 0;
      for (int i = 0; i < D; ++i) s += (y[i] - w[i]) * (y[i] - w[i]);
      EXPECT_NEAR(s, best, 1e-15) << "D " << D << " bits " << bits;
    }
  }
}

TEST(BlockVq, TrainingIsDeterministicAndHoldsOut) {
  const BlockVqCodebook a = train_block_vq(64, 4, 8), b = train_block_vq(64, 4, 8);
  EXPECT_EQ(a.orthant, b.orthant);
  // the hold-out error is close to the training error (no over-fitting to the sample)
  EXPECT_NEAR(a.holdout_mse / a.train_mse, 1.0, 0.03);
  for (double x : a.orthant) EXPECT_GT(x, 0.0);  // strictly inside the positive orthant
}

TEST(BlockVq, BeatsScalarLloydMaxAtEqualBits) {
  // d = 64: 2 and 3 bits per coordinate. Measured (docs/CODECS.md): block-vq(4,8) 0.0994 vs
  // coord 0.1145 (x d, per coordinate, on the law); here the renormalised direction error.
  const int d = 64;
  const double c2 = mean_direction_mse(CoordLloydCodec(d, 2, false), 2000, 5);
  const double v2 = mean_direction_mse(BlockVqCodec(d, 4, 8), 2000, 5);
  const double c3 = mean_direction_mse(CoordLloydCodec(d, 3, false), 2000, 6);
  const double v3 = mean_direction_mse(BlockVqCodec(d, 4, 12), 2000, 6);
  std::printf("direction MSE d=64: 2 b coord %.5f block-vq(4,8) %.5f; 3 b coord %.5f block-vq(4,12) %.5f\n", c2, v2, c3,
              v3);
  EXPECT_LT(v2, 0.93 * c2);
  EXPECT_LT(v3, 0.85 * c3);
  EXPECT_DOUBLE_EQ(BlockVqCodec(d, 4, 12).bits_per_element(), 3.0);
}

TEST(BlockVq, LutScoredLogitsEqualLogitsOfExplicitlyDecodedKeys) {
  for (int d : {64, 128})
    for (bool mean : {true, false}) {
      const TierFormat t = vq_tier(4, 12, 4, mean);
      const auto signs = hadamard_signs(kDefaultRotationSeed, 2, 1, d);
      const int n = 50;
      const auto keys = keys_with_mean(n, d, 3), values = keys_with_mean(n, d, 4);
      std::vector<uint8_t> page(block_vq_page_layout(t, d).total);
      encode_block_vq_page(t, d, signs.data(), keys.data(), values.data(), n, page.data());
      std::vector<float> kh(size_t(n) * d), vh(size_t(n) * d), logits(n);
      decode_block_vq_page(t, d, signs.data(), page.data(), n, kh.data(), vh.data());
      std::mt19937_64 rng(9);
      std::normal_distribution<float> g;
      for (int rep = 0; rep < 5; ++rep) {
        std::vector<float> q(d);
        for (auto& x : q) x = 2.f * g(rng);
        const float sm = 1.f / std::sqrt(float(d));
        block_vq_page_logits(t, d, signs.data(), page.data(), n, q.data(), sm, logits.data());
        double qn = 0;
        for (float x : q) qn += double(x) * x;
        for (int j = 0; j < n; ++j) {
          double ref = 0, kn = 0;
          for (int i = 0; i < d; ++i) {
            ref += double(q[i]) * kh[size_t(j) * d + i];
            kn += double(kh[size_t(j) * d + i]) * kh[size_t(j) * d + i];
          }
          ref *= sm;
          // fp32 rounding of the table, of k^ and of the sums: relative to |q| |k^| / sqrt(d)
          EXPECT_LT(std::fabs(logits[j] - ref) / (std::sqrt(qn * kn) * sm), 2e-6) << "d " << d << " token " << j;
        }
      }
      // the decoded keys are close to the originals (the code is a code, not noise)
      double e = 0, r = 0;
      for (size_t i = 0; i < keys.size(); ++i) { e += (keys[i] - kh[i]) * (keys[i] - kh[i]); r += keys[i] * keys[i]; }
      EXPECT_LT(e / r, mean ? 0.02 : 0.05);
    }
}

TEST(BlockVq, RateEqualsBytesStoredInAPage) {
  auto a16 = [](size_t n) { return (n + 15) / 16 * 16; };
  for (int d : {64, 128})
    for (auto [D, bits, vb] : {std::tuple{4, 12, 4}, std::tuple{8, 12, 2}, std::tuple{4, 9, 0}}) {
      const TierFormat t = vq_tier(D, bits, vb, true);
      const size_t P = 64;
      size_t bytes = a16(P * ((size_t(d / D) * bits + 31) / 32) * 4) + a16(P * 2);  // key codes, key scales
      bytes += vb ? a16(P * ((size_t(d) * vb + 31) / 32) * 4) + a16(P * 2) : a16(P * d * 2);
      bytes += a16(size_t(d) * 2);  // fp16 page mean
      const TierRate r = tier_rate(t, d);
      EXPECT_EQ(r.page_bytes, bytes) << d << " " << D << " " << bits;
      EXPECT_DOUBLE_EQ(r.bits_per_element, 0.5 * 8.0 * double(bytes + skv::kernels::kPageMetaBytes) / double(P * d));
      EXPECT_DOUBLE_EQ(r.key_bits_per_element + r.value_bits_per_element, 8.0 * double(bytes) / double(P * d));
      // the encoder writes inside those bytes and nowhere else
      const auto signs = hadamard_signs(kDefaultRotationSeed, 0, 0, d);
      const auto keys = keys_with_mean(int(P), d, 1), values = keys_with_mean(int(P), d, 2);
      std::vector<uint8_t> buf(bytes + 64, 0xAB);
      encode_block_vq_page(t, d, signs.data(), keys.data(), values.data(), int(P), buf.data());
      for (size_t i = bytes; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0xAB) << "wrote past the page at " << i;
    }
  // 3 bits per coordinate in 4-D blocks at d = 64: 3 + 16/64 + 16/64 key bits
  EXPECT_DOUBLE_EQ(tier_rate(load_tier_format(default_tiers_dir() / "vq4k3v4.json"), 64).key_bits_per_element, 3.5);
}

TEST(BlockVq, ValuesAreStoredExactlyAsTheKernelTierStoresThem) {
  const int d = 64, n = 64;
  const TierFormat vq = load_tier_format(default_tiers_dir() / "vq4k3v4.json");
  const TierFormat k3 = load_tier_format(default_tiers_dir() / "k3v4.json");
  const auto signs = hadamard_signs(kDefaultRotationSeed, 1, 2, d);
  const auto keys = keys_with_mean(n, d, 5), values = keys_with_mean(n, d, 6);
  std::vector<uint8_t> pv(block_vq_page_layout(vq, d).total);
  encode_block_vq_page(vq, d, signs.data(), keys.data(), values.data(), n, pv.data());
  std::vector<float> kh(size_t(n) * d), vh(size_t(n) * d), vk(size_t(n) * d);
  decode_block_vq_page(vq, d, signs.data(), pv.data(), n, kh.data(), vh.data());
  const auto L = k3.layout(d);
  const auto books = tier_codebooks(k3, d);
  std::vector<uint8_t> pk(skv::kernels::page_bytes(L));
  skv::kernels::cpu::encode_page(L, books.view(), signs.data(), keys.data(), values.data(), n, 0, true, pk.data());
  skv::kernels::cpu::decode_values(L, books.view(), signs.data(), pk.data(), n, vk.data());
  EXPECT_EQ(vh, vk);
}

TEST(BlockVq, KernelPathRefusesTheTierWithAOneLineError) {
  const TierFormat t = load_tier_format(default_tiers_dir() / "vq4k3v4.json");
  EXPECT_TRUE(t.cpu_only());
  EXPECT_EQ(t.key_codec_spec(), "block-vq(4,12)");
  try {
    (void)t.layout(64);  // what the KV cache (CPU and CUDA) builds its tier from
    FAIL() << "layout() accepted a CPU-only tier";
  } catch (const skv::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("CPU-only"), std::string::npos) << m;
    EXPECT_NE(m.find("vq4k3v4"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_THROW(tier_codebooks(t, 64), skv::Error);
  std::string why;
  EXPECT_FALSE(can_demote(t, load_tier_format(default_tiers_dir() / "k2v2.json"), &why));
  EXPECT_NE(why.find("block-vq"), std::string::npos);
}

TEST(BlockVq, TierJsonRoundTripAndErrors) {
  const TierFormat t = load_tier_format(default_tiers_dir() / "vq8k2v2.json");
  const TierFormat u = parse_tier_format(tier_format_to_json(t), "again");
  EXPECT_EQ(u.key_block_dim, 8);
  EXPECT_EQ(u.key_bits, 16);
  EXPECT_EQ(u.key_codec_spec(), t.key_codec_spec());
  auto bad = [](nlohmann::json key) {
    nlohmann::json j = {{"name", "x"}, {"key", key}, {"value", {{"codec", "fp16"}}}};
    try {
      parse_tier_format(j, "x.json");
    } catch (const skv::Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(bad({{"codec", "block-vq"}, {"dim", 3}, {"bits", 8}}).find("key.dim"), std::string::npos);
  EXPECT_NE(bad({{"codec", "block-vq"}, {"dim", 4}, {"bits", 15}}).find("key.bits"), std::string::npos);
  EXPECT_NE(bad({{"codec", "block-vq"}, {"dim", 4}}).find("key.bits"), std::string::npos);
  EXPECT_NE(bad({{"codec", "block-vq"}, {"dim", 4}, {"bits", 8}, {"radius_bits", 1}}).find("unknown field"),
            std::string::npos);
  // the existing tier files still load unchanged
  for (const char* name : {"fp16", "k4v4", "k3v4", "k2v2", "pp42v4", "pp32v4"})
    EXPECT_FALSE(load_tier_format(default_tiers_dir() / (std::string(name) + ".json")).cpu_only()) << name;
}
