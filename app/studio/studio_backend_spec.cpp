#include "app/studio/studio_backend_spec.h"

#include <string>

namespace skv::studio {

BackendSpec studio_backend_spec(const PolicySettings& p) {
  BackendSpec spec;
  spec.kv = "rdr";
  spec.policy = core_policy_name(p);
  spec.budget = std::to_string(p.budget_percent / 100.0);  // a fraction of the full fp16 cache
  std::string tiers;
  for (const auto& t : p.tiers) tiers += (tiers.empty() ? "" : ",") + t;
  spec.cache.tiers = tiers;
  spec.cache.hot_window = p.hot_window;
  spec.cache.sink_tokens = p.sink_tokens;
  spec.cache.retier_every = p.retier_every;
  spec.policy_options.tiers = tiers;
  // RDR's knobs (the panel shows them for RDR); RDKV and the other peers keep their own defaults,
  // as `skv eval --policy rdkv` does.
  if (p.kind == PolicyKind::rdr) {
    spec.policy_options.utility = p.utility;
    spec.policy_options.utility_power = p.utility_power;
    spec.policy_options.profile = p.profile;
  }
  return spec;
}

}  // namespace skv::studio
