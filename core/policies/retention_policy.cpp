#include "core/policies/retention_policy.h"

#include <cmath>

#include <ATen/ATen.h>

namespace skv {

int32_t PolicyContext::fp16_tier() const {
  for (size_t t = 0; t < tiers->size(); ++t)
    if ((*tiers)[t].fp16_exact()) return int32_t(t);
  return -1;
}

at::Tensor allocatable_mask(const PolicyContext& ctx, int64_t layer) {
  const LayerView& v = ctx.layers.at(layer);
  return v.current.ne(kDropTier).logical_and(ctx.forced.logical_not().unsqueeze(0));
}

double assignment_page_bytes(const PolicyContext& ctx, const Assignment& a) {
  double bytes = 0;
  const auto& tiers = *ctx.tiers;
  for (int64_t l = 0; l < ctx.n_layers(); ++l) {
    auto mask = allocatable_mask(ctx, l);
    auto tier = a.at(l).masked_fill(mask.logical_not(), kDropTier);
    for (size_t t = 0; t < tiers.size(); ++t) {
      auto counts = tier.eq(int32_t(t)).sum(1).to(at::kLong);  // [Hkv]
      const int64_t P = tiers[t].layout.page_tokens;
      auto pages = (counts + (P - 1)).div(P, "floor");
      bytes += double(pages.sum().item<int64_t>()) * tiers[t].page_cost();
    }
  }
  return bytes;
}

}  // namespace skv
