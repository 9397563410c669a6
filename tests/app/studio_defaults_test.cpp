// The Studio's policy defaults are the CLI's: a run started from the Policy panel untouched is the
// same RDR as `skv eval --policy rdr`.
#include <gtest/gtest.h>

#include "app/studio/studio_types.h"
#include "core/policies/peer_policies.h"

namespace skv::studio {
namespace {

TEST(StudioDefaults, RdrUtilityIsTheCoreDefault) {
  EXPECT_EQ(PolicySettings{}.utility, std::string(kRdrDefaultUtility));
}

}  // namespace
}  // namespace skv::studio
