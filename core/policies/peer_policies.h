#pragma once
// The peer policies of SPHERICAL_KV.md section 4, each a retention/precision policy over the same
// paged cache (docs/POLICIES.md gives each one's defaults and source paper), and the registry
// that builds any policy by name:
//   full        every token fp16 (the reference)
//   ada         every token in one tier (--tier NAME): `skv generate --kv ada`
//   streaming   StreamingLLM: sinks + the newest tokens that fit
//   h2o         heavy hitters by accumulated attention, fp16
//   snapkv      top tokens by pooled observation-window attention, fp16
//   pyramidkv   SnapKV scores with per-layer budgets decreasing linearly with depth
//   tri         top tokens by the TriAttention pre-RoPE score, fp16
//   kivi2/kivi4 every token KIVI-quantized (2 / 4 bits); oldest dropped if that does not fit
//   quest       every token fp16, attention reads only the Top-K pages per query (Quest)
//   quest-c     quest + positive-random-feature completion of the pages it skips
//   rdkv        RD bit allocation over the coded tiers (drop only when they cannot fit)
//   rdr         RD retention: {drop, tiers} by one Lagrange multiplier (rdr_policy.h)
//   rdr-c       rdr + positive-random-feature completion of dropped tokens
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/policies/rdr_defaults.h"
#include "core/policies/rdr_policy.h"
#include "core/policies/retention_policy.h"

namespace skv {

// Options a command passes to make_policy. Empty / unset RDR fields take the policy's own default
// (rdr_defaults.h: rdr and rdr-c get RDR's, rdkv the RDKV peer's), so every entry point that leaves
// them alone runs the same RDR.
struct PolicyOptions {
  std::string tier = "k3v4";         // ada: the single tier
  std::string tiers = "default_set"; // rdr / rdkv: the tier set
  std::string utility;               // rdr: estimator ("" = kRdrDefaultUtility; rdkv: obs)
  std::optional<double> utility_power;  // rdr: gamma (unset = kRdrDefaultUtilityPower; rdkv: 1)
  std::string profile;               // rdr: budget profile: auto | none | NAME | PATH ("" = auto; rdkv: none)
  double layer_cap = 0;              // rdr: per-layer cap as a fraction of the layer's fp16 bytes
  std::string sensitivity;           // rdr: auto | off | profile ("" = auto for rdr/rdr-c, off for rdkv)
  double pyramid_beta = 20;          // pyramidkv: top layer gets 2/beta of the mean budget
  double read_fraction = 0.25;       // quest: tokens each query reads, as a fraction of the cache
};

std::shared_ptr<RetentionPolicy> make_policy(const std::string& name, const PolicyOptions& options = {});
// The RdrOptions make_policy gives rdr, rdr-c or rdkv for these options (their defaults filled in).
RdrOptions rdr_options(const std::string& name, const PolicyOptions& options = {});
const std::vector<std::string>& policy_names();

// Keeps, per (layer, head), the `keep[l]` allocatable tokens of highest score in `tier`; the rest
// dropped. (The shared core of StreamingLLM / H2O / SnapKV / PyramidKV / TriAttention.)
Assignment keep_top(const PolicyContext& ctx, const std::vector<at::Tensor>& scores, const std::vector<int64_t>& keep,
                    int32_t tier);
// The largest per-head token count k (a multiple of the tier's page size unless everything fits)
// such that keeping k tokens in `tier` in every (layer, head), scaled by `layer_weight`, fits the
// page budget. Returns per-layer counts.
std::vector<int64_t> fit_per_layer(const PolicyContext& ctx, int32_t tier, const std::vector<double>& layer_weight);

}  // namespace skv
