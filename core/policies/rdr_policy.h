#pragma once
// Rate-Distortion Retention (SPHERICAL_KV.md section 2): per (layer, kv head, token) one option
// of {drop, tier 0 .. m-1} minimising the expected attention-output distortion under the byte
// budget, by one Lagrange multiplier shared across heads and layers (lagrangian_allocator.h).
//
//   kept in tier t:  D_j(t)    = u_j^g (dK_t |k_j|^2 |q|^2 / d^2 |v_j - o|^2 + dV_t |v_j|^2)
//   dropped:         D_j(drop) = u_j^g |v_j - o|^2
// u_j the utility (utility_estimators.h), o the utility-weighted mean value of the head, |q|^2
// the mean squared norm of the observation-window queries of the group, g the utility power
// (1 as the design states; 2 is what independent per-token errors would give: docs/POLICIES.md).
// dK_t, dV_t: the tier's relative squared error |k - k^|^2 / |k|^2 measured per (layer, head)
// by encoding and decoding the model's own calibration tokens (the prefill) in pages; the key
// term is the first-order effect of a logit error q.e / sqrt(d) on the output.
// Sensitivity weighting (docs/RDR_RESULTS.md): every D of layer l is multiplied by w_l, the
// measured next-token KL per unit squared attention-output error of that layer
// (core/metrics/layer_sensitivity.h, `skv calibrate-sensitivity`, stored as "layer_sensitivity"
// in the model's budget profile), so the one multiplier compares layers in KL units.
// Re-tiering is demotion-only: a token already coded may only move to a tier of no higher rate
// (its original is gone), or be dropped.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/policies/rdr_defaults.h"
#include "core/policies/retention_policy.h"

namespace skv {

struct RdrOptions {  // defaults: rdr_defaults.h (make_policy("rdkv") sets the RDKV peer's)
  std::string tiers = "default_set";
  std::string utility = kRdrDefaultUtility;
  double utility_power = kRdrDefaultUtilityPower;
  bool allow_drop = true;
  bool drop_only_if_needed = false;   // RDKV-style: drop only when the tiers alone cannot fit
  std::string completion;             // "" or "prf"
  double layer_cap = 0;               // > 0: no layer's pages above this fraction of its fp16 size
  std::vector<double> layer_shares;   // budget profile: per-layer share of the page budget
  // Or the profile to read them from: "auto" = the model's own (find_model_profile; none found:
  // one multiplier across layers; also none when layer_cap is set), "none" or "" = none, else a
  // name of assets/profiles or a path (validated against the model's layer count).
  std::string profile = kRdrDefaultProfile;
  int calibration_tokens = 512;       // per (layer, head) for the distortion measurement
  // Per-layer sensitivity weights of D: "auto" = the "layer_sensitivity" of the assets/profiles
  // file whose "model" is this model (none found: unweighted), "off" = unweighted, else a
  // profile name or path that must carry them. layer_weights, when set, win over this.
  std::string sensitivity = "auto";
  std::vector<double> layer_weights;
};

class RdrPolicy : public RetentionPolicy {
 public:
  RdrPolicy(std::string name, RdrOptions options) : name_(std::move(name)), opt_(std::move(options)) {}
  std::string name() const override { return name_; }
  Assignment assign(const PolicyContext& ctx) override;
  std::string tier_spec() const override { return opt_.tiers; }
  std::string completion() const override { return opt_.completion; }

  // Measured dK / dV per [layer][head][tier] (after the first assign).
  const std::vector<std::vector<std::vector<double>>>& key_distortion() const { return dk_; }
  const std::vector<std::vector<std::vector<double>>>& value_distortion() const { return dv_; }
  double last_lambda() const { return lambda_; }
  // The per-layer weights in use (empty: unweighted) and where they came from (after assign).
  const std::vector<double>& layer_weights() const { return opt_.layer_weights; }
  const std::string& weights_source() const { return weights_source_; }
  // The budget profile whose layer shares are in use ("" = none; after assign).
  const std::string& profile_source() const { return profile_source_; }

 private:
  void measure_distortion(const PolicyContext& ctx);
  std::string name_;
  RdrOptions opt_;
  std::vector<std::vector<std::vector<double>>> dk_, dv_;
  double lambda_ = 0;
  bool weights_resolved_ = false, shares_resolved_ = false;
  std::string weights_source_, profile_source_;
};

// Relative squared errors (dK, dV) of a tier on tokens [n, d], encoded in position order in pages.
std::pair<double, double> measure_tier_distortion(const CacheTier& tier, const int8_t* signs, const at::Tensor& keys,
                                                  const at::Tensor& values);

// Reads a budget profile (assets/profiles/*.json): {"model": ..., "layer_shares": [...]}.
// Throws skv::Error (one line) for a missing or malformed file or a layer count not n_layers.
std::vector<double> load_budget_profile(const std::string& name_or_path, int64_t n_layers);
// The shipped budget profile (assets/profiles/*.json) made for this model, "" when none is: its
// "model" equals the model's name (ModelConfig::name: a GGUF's file name without the quant tag,
// an HF checkpoint's folder, a shape config's "name") or its "model_identity" ends in the model's
// checkpoint fingerprint (ModelConfig::checkpoint: a renamed GGUF), its "model_shape" (when present: architecture,
// layers, heads, kv heads, head dim, width, vocabulary) equals the model's, and it has one
// layer share per layer. A shape-only config or any other model gets none.
std::string find_model_profile(const ModelConfig& config);
// The "model_shape" a profile for this model carries (skv calibrate-sensitivity writes it).
nlohmann::json profile_model_shape(const ModelConfig& config);
// What an RDR profile option means for this model: "" (none) for "none" / "", the matching
// profile's path (or "") for "auto", else the named profile's path after checking that it loads
// for this model (throws skv::Error otherwise). Lets a command fail before its prefill.
std::string resolve_rdr_profile(const std::string& profile, const ModelConfig& config);

// Reads "layer_sensitivity" (one weight > 0 per layer) of a profile; scaled to mean 1. Throws
// skv::Error when the file or the array is missing or the wrong length.
std::vector<double> load_layer_sensitivity(const std::string& name_or_path, int64_t n_layers);
// The assets/profiles/*.json made for this model (as find_model_profile matches it) that carries
// one "layer_sensitivity" weight per layer; "" when none does.
std::string find_sensitivity_profile(const ModelConfig& config);

}  // namespace skv
