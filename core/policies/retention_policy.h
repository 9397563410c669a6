#pragma once
// What a retention/precision policy sees and decides (SPHERICAL_KV.md section 2): at each
// re-tiering of a TieredKvCache, every (layer, kv head, token) that is still cached and not held
// in the fp16 hot window gets one tier out of {drop, tier 0 .. tier m-1}. Every policy of the
// project (RDR and its peers, section 4) answers in this one form, over the same paged cache, so
// they are compared on the same bytes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/cache/cache_tier.h"
#include "core/model/model_config.h"

namespace skv {

inline constexpr int32_t kDropTier = -1;   // assignment / current tier: not cached
inline constexpr int32_t kHotTier = -2;    // current tier: still in the fp16 hot window (never sealed)

// One layer as the cache holds it now. Tensors are CPU float32 / int32 / bool; N = tokens so far.
struct LayerView {
  at::Tensor keys;         // [Hkv, N, d] post-RoPE; decoded where a token is already coded
  at::Tensor values;       // [Hkv, N, d]
  at::Tensor current;      // [Hkv, N] int32: kDropTier (gone), kHotTier, or the tier id it sits in
  at::Tensor obs_queries;  // [Hq, W, d] the last W queries (post-RoPE), W <= obs window
  at::Tensor obs_pos;      // [W] int64 positions of those queries
  at::Tensor accumulated;  // [Hkv, N] attention received so far, summed over queries and the group
  at::Tensor seen_by;      // [N] number of queries (per query head) that could see the position
};

struct PolicyContext {
  const ModelConfig* config = nullptr;
  const std::vector<CacheTier>* tiers = nullptr;  // page tiers, index = tier id
  int64_t n_tokens = 0;
  at::Tensor forced;        // [N] bool: sinks and hot window, kept fp16 outside the pages
  std::vector<LayerView> layers;
  double page_budget_bytes = 0;   // what the sealed pages may take (hot window already paid)
  double full_fp16_bytes = 0;     // the whole cache at fp16 (for fraction-based peers)
  int64_t retier_index = 0;       // 0 at the first compression after the prefill

  int64_t n_layers() const { return int64_t(layers.size()); }
  // Tier id of the exact fp16 tier, or -1 when the tier list has none.
  int32_t fp16_tier() const;
};

// Per layer int32 [Hkv, N]: kDropTier or a tier id. Entries of forced or already dropped tokens
// are ignored by the cache (forced tokens stay hot; dropped ones cannot come back).
using Assignment = std::vector<at::Tensor>;

// Exact bytes of the sealed pages an assignment implies: per (layer, head, tier), the tokens are
// packed in position order into ceil(n / P) pages of accounted_page_bytes + page-table entry.
double assignment_page_bytes(const PolicyContext& ctx, const Assignment& a);
// Tokens each assignment keeps / drops among the allocatable ones (not forced, still cached).
at::Tensor allocatable_mask(const PolicyContext& ctx, int64_t layer);  // [Hkv, N] bool

class RetentionPolicy {
 public:
  virtual ~RetentionPolicy() = default;
  virtual std::string name() const = 0;
  // Tier of every allocatable token; must satisfy assignment_page_bytes <= page_budget_bytes.
  virtual Assignment assign(const PolicyContext& ctx) = 0;
  // Quest-style policies choose pages per query at attention time, keeping every page resident.
  virtual int64_t query_page_budget_tokens(int64_t n_tokens) const { return -1; }
  // The tier list this policy expects the cache to hold ("" = the cache's default).
  virtual std::string tier_spec() const { return ""; }
  // Feature-map completion of dropped tokens ("" = off, "prf", "elu").
  virtual std::string completion() const { return ""; }
};

}  // namespace skv
