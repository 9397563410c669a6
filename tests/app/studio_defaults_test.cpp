// The Studio's policy defaults are the CLI's: a run started from the Policy panel untouched is the
// same RDR as `skv eval --policy rdr` (which leaves every RDR option to make_policy's defaults,
// core/policies/rdr_defaults.h), and the same RDKV as `skv eval --policy rdkv`.
#include <gtest/gtest.h>

#include "app/studio/studio_backend_spec.h"
#include "app/studio/studio_types.h"
#include "core/cache/cache_tier.h"
#include "core/policies/peer_policies.h"

namespace skv::studio {
namespace {

TEST(StudioDefaults, RdrUtilityIsTheCoreDefault) {
  EXPECT_EQ(PolicySettings{}.utility, std::string(kRdrDefaultUtility));
}

TEST(StudioDefaults, RdrPowerAndProfileAreTheCoreDefaults) {
  const PolicySettings p;
  EXPECT_EQ(p.kind, PolicyKind::rdr);
  EXPECT_DOUBLE_EQ(p.utility_power, kRdrDefaultUtilityPower);
  EXPECT_EQ(p.profile, std::string(kRdrDefaultProfile));
}

// What the worker runs for the untouched panel, resolved by make_policy's own option filling,
// against what `skv eval` runs (PolicyOptions left empty but for its tier set).
TEST(StudioDefaults, UntouchedPanelRunsTheCliRdrAndRdkv) {
  for (const PolicyKind kind : {PolicyKind::rdr, PolicyKind::rdkv}) {
    PolicySettings p;
    p.kind = kind;
    const BackendSpec studio = studio_backend_spec(p);
    const BackendSpec cli;  // skv eval: kv rdr, the policy's defaults, tier set default_set
    const std::string name = kind == PolicyKind::rdr ? "rdr" : "rdkv";
    SCOPED_TRACE(name);
    EXPECT_EQ(studio.kv, "rdr");
    EXPECT_EQ(studio.policy, name);
    const RdrOptions s = rdr_options(studio.policy, studio.policy_options), c = rdr_options(name, cli.policy_options);
    EXPECT_EQ(s.utility, c.utility);
    EXPECT_DOUBLE_EQ(s.utility_power, c.utility_power);
    EXPECT_EQ(s.profile, c.profile);
    EXPECT_EQ(s.sensitivity, c.sensitivity);
    EXPECT_DOUBLE_EQ(s.layer_cap, c.layer_cap);
    EXPECT_EQ(s.completion, c.completion);
    EXPECT_EQ(s.drop_only_if_needed, c.drop_only_if_needed);
    // The panel's tier list is the tier set the CLI names (read from assets/tiers).
    const auto mine = load_cache_tiers(s.tiers, 64), theirs = load_cache_tiers(c.tiers, 64);
    ASSERT_EQ(mine.size(), theirs.size());
    for (size_t t = 0; t < mine.size(); ++t) EXPECT_EQ(mine[t].name, theirs[t].name);
    // Budget and cache knobs: skv eval's defaults (0.25, hot window 32, sinks 4, re-tier every 64).
    EXPECT_DOUBLE_EQ(std::stod(studio.budget), 0.25);
    EXPECT_EQ(studio.cache.hot_window, 32);
    EXPECT_EQ(studio.cache.sink_tokens, 4);
    EXPECT_EQ(studio.cache.retier_every, 64);
  }
}

// max prompt tokens = auto: the CPU cut, and on a GPU the longest prompt that leaves room for the
// tokens to generate (SmolLM2: 8192 - 256), never under half the context.
TEST(StudioDefaults, AutoPromptTokensFitTheContextOnAGpu) {
  EXPECT_EQ(auto_prompt_tokens(false, 8192, 256), 512);
  EXPECT_EQ(auto_prompt_tokens(true, 8192, 256), 8192 - 256);
  EXPECT_EQ(auto_prompt_tokens(true, 8192, 8000), 4096);
  EXPECT_EQ(auto_prompt_tokens(true, 8192, -1), 8192);
  RunSettings run;
  EXPECT_EQ(run.max_prompt_tokens, -1);  // auto is what a fresh Run panel has
}

}  // namespace
}  // namespace skv::studio
