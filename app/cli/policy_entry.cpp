#include "app/cli/policy_entry.h"

#include <sstream>

#include "core/common/error.h"
#include "core/policies/peer_policies.h"
#include "core/policies/rdr_policy.h"

namespace skv::cli {

std::string apply_policy_entry(const std::string& entry, BackendSpec& s) {
  const auto tilde = entry.find('~');
  const std::string name = entry.substr(0, tilde);
  if (name.empty()) throw Error("policy entry '" + entry + "' has no policy name");
  if (name.rfind("ada:", 0) == 0) {
    s.kv = "ada";
    s.tier = name.substr(4);
  } else if (name == "ada") {
    s.kv = "ada";
  } else {
    s.policy = name;
  }
  if (tilde == std::string::npos) return name;
  std::stringstream kv(entry.substr(tilde + 1));
  for (std::string item; std::getline(kv, item, '~');) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq), val = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (eq == std::string::npos || val.empty())
      throw Error("policy '" + entry + "': override '" + item + "' is not KEY=VALUE");
    if (key == "sens") {
      s.policy_options.sensitivity = val;
    } else if (key == "util") {
      s.policy_options.utility = val;
    } else if (key == "power") {
      std::size_t used = 0;
      double g = 0;
      try {
        g = std::stod(val, &used);
      } catch (...) {
        used = 0;
      }
      if (used != val.size() || !(g >= 0)) throw Error("policy '" + entry + "': power '" + val + "' is not a number >= 0");
      s.policy_options.utility_power = g;
    } else if (key == "profile") {
      s.policy_options.profile = val;
    } else {
      throw Error("policy '" + entry + "': unknown override '" + key + "' (sens, util, power, profile)");
    }
  }
  return name;
}

std::string check_policy_profile(const BackendSpec& s, const ModelConfig& config) {
  if (s.kv != "rdr" || (s.policy != "rdr" && s.policy != "rdr-c" && s.policy != "rdkv")) return "-";
  const RdrOptions r = rdr_options(s.policy, s.policy_options);
  if (r.layer_cap > 0 && r.profile != "auto" && !r.profile.empty() && r.profile != kRdrNoProfile)
    throw Error("policy " + s.policy + ": a budget profile (" + r.profile + ") and --layer-cap exclude each other");
  if (r.layer_cap > 0) return "";
  return resolve_rdr_profile(r.profile, config);
}

}  // namespace skv::cli
