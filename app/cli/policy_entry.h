// One entry of a policy list (skv eval --compare, skv sweep --policies): a policy name with
// optional per-entry RDR overrides, e.g. rdr~profile=none~power=1~util=snapkv*0.8+recency*0.2.
#pragma once

#include <string>

#include "core/cache/backend_factory.h"
#include "core/model/model_config.h"

namespace skv::cli {

// Sets `spec` for the entry NAME[~KEY=VALUE...]: kv/tier for ada:TIER and ada, the policy name
// otherwise, and the overrides sens, util, power, profile (auto | none | NAME | PATH) of its
// policy options. Returns NAME. Throws skv::Error (one line) for a malformed entry.
std::string apply_policy_entry(const std::string& entry, BackendSpec& spec);

// The budget profile an RD policy of `spec` will use on this model: "" for none, else its path;
// "-" for policies that take none. Throws skv::Error (one line) when the profile named does not
// load for this model (missing or malformed file, another layer count), so commands fail before
// their prefill.
std::string check_policy_profile(const BackendSpec& spec, const ModelConfig& config);

}  // namespace skv::cli
