// The attention benchmark's codebook levels (kernels/bench/attn_bench_levels.h, constants because
// kernels/ does not depend on core/) are the target tier's codebooks as core/codecs builds them:
// `skv bench attn` measures what the tool runs, and a change to the codecs fails here until the
// benchmark follows.
#include <gtest/gtest.h>

#include <cmath>

#include "core/codecs/tier_format.h"
#include "kernels/bench/attn_bench_levels.h"

namespace {

using namespace skv::codecs;
namespace lv = skv::kernels::bench_levels;

TEST(AttnBenchLevels, AreTheTargetTiersCodebooksAtD128) {
  const TierFormat t = load_tier_format(default_tiers_dir() / "k3v4.json");
  const TierCodebookSet books = tier_codebooks(t, 128);
  ASSERT_EQ(books.key_levels.size(), 8u);
  ASSERT_EQ(books.value_levels.size(), 16u);
  auto near = [](float codec, float bench) { return std::fabs(codec - bench) <= 1e-6f * std::fabs(bench); };
  for (int c = 0; c < 4; ++c) {
    EXPECT_TRUE(near(books.key_levels[size_t(4 + c)], lv::kKeyHalf[c])) << "key level " << 4 + c;
    EXPECT_TRUE(near(books.key_levels[size_t(3 - c)], -lv::kKeyHalf[c])) << "key level " << 3 - c;
  }
  for (int c = 0; c < 8; ++c) {
    EXPECT_TRUE(near(books.value_levels[size_t(8 + c)], lv::kValueHalf[c])) << "value level " << 8 + c;
    EXPECT_TRUE(near(books.value_levels[size_t(7 - c)], -lv::kValueHalf[c])) << "value level " << 7 - c;
  }
}

}  // namespace
