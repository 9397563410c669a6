// Tier formats: shipped files load, rates equal the bytes a page stores, errors name the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/codecs/tier_format.h"
#include "core/common/error.h"
#include "kernels/cpu/ada_reference.h"

using namespace skv::codecs;
using nlohmann::json;

namespace {
std::string error_of(const json& j) {
  try {
    parse_tier_format(j, "t.json");
  } catch (const skv::Error& e) {
    return e.what();
  }
  return "";
}
json k3v4() {
  return json::parse(R"({"name":"k3v4","key":{"codec":"coord-lloyd","bits":3},"value":{"codec":"coord-lloyd","bits":4},
                        "page_mean":true,"page_tokens":64,"codebook":"nested"})");
}
}  // namespace

TEST(TierFormat, DefaultSetLoadsBestFirst) {
  const TierSet s = load_tier_set(default_tiers_dir() / "default_set.json");
  ASSERT_EQ(s.tiers.size(), 4u);
  EXPECT_EQ(s.tiers[0].name, "fp16");
  EXPECT_EQ(s.tiers[1].name, "k4v4");
  EXPECT_EQ(s.tiers[2].name, "k3v4");
  EXPECT_EQ(s.tiers[3].name, "k2v2");
  EXPECT_TRUE(s.allow_drop);
  for (size_t i = 1; i < s.tiers.size(); ++i)
    EXPECT_LT(tier_rate(s.tiers[i], 64).bits_per_element, tier_rate(s.tiers[i - 1], 64).bits_per_element);
  EXPECT_NO_THROW(load_tier_set(default_tiers_dir() / "pair_polar_set.json"));
}

TEST(TierFormat, RateEqualsBytesStoredInAPage) {
  for (const char* name : {"fp16", "k4v4", "k3v4", "k2v2", "pp32v4", "pp42v4"}) {
    const TierFormat t = load_tier_format(default_tiers_dir() / (std::string(name) + ".json"));
    for (int d : {64, 128}) {
      const auto L = t.layout(d);
      const TierRate r = tier_rate(t, d);
      // Hand count: codes + fp16 scales + fp16 mean, 16-byte aligned arrays, + page-table entry.
      const int P = t.page_tokens;
      auto a16 = [](size_t n) { return (n + 15) / 16 * 16; };
      size_t bytes = 0;
      if (t.key_kind == skv::kernels::KeyKind::kFp16) bytes += a16(size_t(P) * d * 2);
      else {
        const int groups = t.key_kind == skv::kernels::KeyKind::kCoord ? d : d / 2;
        const int cb = t.key_kind == skv::kernels::KeyKind::kCoord ? t.key_bits : t.key_bits + t.key_radius_bits;
        bytes += a16(size_t(P) * ((groups * cb + 31) / 32) * 4) + a16(size_t(P) * 2) + (t.page_mean ? a16(size_t(d) * 2) : 0);
      }
      if (t.value_kind == skv::kernels::ValueKind::kFp16) bytes += a16(size_t(P) * d * 2);
      else bytes += a16(size_t(P) * ((d * t.value_bits + 31) / 32) * 4) + a16(size_t(P) * 2);
      EXPECT_EQ(r.page_bytes, bytes) << name << " d=" << d;
      EXPECT_DOUBLE_EQ(r.bits_per_element, 0.5 * 8.0 * double(bytes + skv::kernels::kPageMetaBytes) / (P * d));
      EXPECT_DOUBLE_EQ(r.key_bits_per_element + r.value_bits_per_element, 8.0 * double(bytes) / (P * d));
      EXPECT_EQ(r.page_bytes, skv::kernels::page_bytes(L));
    }
  }
  const TierFormat k3 = parse_tier_format(k3v4(), "k3v4");
  // d = 128, P = 64: 3 code bits + 16/128 (scale per token) + 16/64 (fp16 mean of d per 64 tokens)
  EXPECT_DOUBLE_EQ(tier_rate(k3, 128).key_bits_per_element, 3.375);
  EXPECT_DOUBLE_EQ(tier_rate(k3, 64).key_bits_per_element, 3.5);
}

TEST(TierFormat, ErrorsNameTheFieldAndTheFix) {
  json j = k3v4();
  j["key"]["bits"] = 9;
  EXPECT_NE(error_of(j).find("'key.bits' must be an integer in 1..8, got 9"), std::string::npos) << error_of(j);
  j = k3v4();
  j["key"]["codec"] = "tree-polar";
  EXPECT_NE(error_of(j).find("CPU-only"), std::string::npos) << error_of(j);
  j = k3v4();
  j["pagemean"] = true;
  EXPECT_NE(error_of(j).find("unknown field 'pagemean'"), std::string::npos) << error_of(j);
  j = k3v4();
  j.erase("value");
  EXPECT_NE(error_of(j).find("missing object field 'value'"), std::string::npos) << error_of(j);
  j = k3v4();
  j["codebook"] = "tree";
  EXPECT_NE(error_of(j).find("'codebook' must be"), std::string::npos) << error_of(j);
  j = k3v4();
  j["page_tokens"] = 1000;
  EXPECT_NE(error_of(j).find("page_tokens"), std::string::npos) << error_of(j);
  j = json::parse(R"({"name":"pp","key":{"codec":"pair-polar","angle_bits":6,"radius_bits":3},"value":{"codec":"fp16"}})");
  EXPECT_NE(error_of(j).find("'key.radius_bits' must be an integer in 0..2"), std::string::npos) << error_of(j);
  for (const std::string& msg : {error_of(k3v4())}) EXPECT_EQ(msg, "");
}

TEST(TierFormat, FileErrorsAreClear) {
  const auto dir = std::filesystem::path(SKV_TEST_TMP) / "tier_format_test";
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "bad.json") << "{ not json"; }
  try {
    load_tier_format(dir / "bad.json");
    FAIL();
  } catch (const skv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos);
  }
  { std::ofstream(dir / "other.json") << k3v4().dump(); }
  EXPECT_THROW(load_tier_format(dir / "other.json"), skv::Error);  // name != file name
  { std::ofstream(dir / "set.json") << R"({"tiers":["k3v4","missing"]})"; }
  { std::ofstream(dir / "k3v4.json") << k3v4().dump(); }
  try {
    load_tier_set(dir / "set.json");
    FAIL();
  } catch (const skv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tier 'missing' has no file missing.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_tier_format(dir / "nope.json"), skv::Error);
}

TEST(TierFormat, JsonRoundTrip) {
  const TierFormat t = parse_tier_format(k3v4(), "k3v4");
  const TierFormat u = parse_tier_format(tier_format_to_json(t), "again");
  EXPECT_EQ(u.key_bits, 3);
  EXPECT_EQ(u.value_bits, 4);
  EXPECT_TRUE(u.nested);
  EXPECT_EQ(u.key_codec_spec(), "coord-lloyd(3)");
}
