// How a paged decode call is split over CTAs: pure host code, shared by the CUDA launcher
// (kernels/cuda/ada_decode.cu) and its CPU test (tests/kernels/decode_plan_test.cpp), so the rule
// is checked without a GPU. Measurements behind it: docs/KERNELS.md ("Session 8 round").
#pragma once
#include <algorithm>
#include <cstddef>

#include "kernels/kernel_error.h"
#include "kernels/page_table.h"

namespace skv::kernels {

inline constexpr int kMaxPagesPerSplit = 128;  // a CTA's page-info (and v4's q.m) tables in shared memory
inline constexpr int kWarpPerPageWarps = 16;   // v5-v7: 16 warps, one CTA per SM

struct DecodePlan {
  int nh = 0;               // query heads a CTA serves (1, 2 or 4: the GQA group, or chunks of 4)
  int chunks = 0;           // CTAs along a kv head's query group
  int splits = 0;           // CTAs along a head's page list (flash-decoding partials, one merge)
  int pages_per_split = 0;  // pages a CTA reads (the last split may have fewer)
  size_t rows = 0;          // output rows: batch x query heads
  size_t bytes = 0;         // workspace bytes the partials need
};

// Splits over pages. The split kernel (v4) aims at ~2 resident CTAs per SM (2 waves' worth at
// batch 1). The warp-per-page kernels (v5-v7) run one CTA per SM and want at least a page per
// warp, in multiples of their 16 warps; short lists (at most 4 pages a warp in one CTA) may
// spread over up to one CTA per SM instead, never into a second wave (H100: 4k 32q/8kv B=1 v7
// 16.26 us with 128 CTAs of 4 pages against 18.66 with 32 of 16; longer lists did not gain:
// 16k 9q/3kv B=1 18.8 against 17.5 us with 129 CTAs of 6). Never more than kMaxPagesPerSplit
// pages a CTA. sms: the device's SM count.
inline DecodePlan decode_plan(const PagedKv& kv, int num_q_heads, int max_pages, bool warp_per_page, int sms) {
  if (kv.num_kv_heads <= 0 || num_q_heads <= 0 || num_q_heads % kv.num_kv_heads != 0)
    throw KernelError("ada decode: num_q_heads must be a positive multiple of num_kv_heads");
  if (kv.head_dim != 64 && kv.head_dim != 128) throw KernelError("ada decode: head_dim must be 64 or 128");
  const int group = num_q_heads / kv.num_kv_heads;
  DecodePlan p;
  p.nh = group == 1 ? 1 : group == 2 ? 2 : 4;
  p.chunks = (group + p.nh - 1) / p.nh;
  const int units = std::max(1, kv.batch * kv.num_kv_heads * p.chunks);
  const int mp = std::max(1, max_pages);
  const int most = (mp + kMaxPagesPerSplit - 1) / kMaxPagesPerSplit;  // the fewest splits allowed
  if (!warp_per_page) {
    const int target = 2 * sms;
    const int splits = std::max(std::clamp((target + units - 1) / units, 1, mp), most);
    p.pages_per_split = (mp + splits - 1) / splits;
  } else {
    constexpr int kWarps = kWarpPerPageWarps;
    const int page_a_warp = std::max(1, (mp + kWarps - 1) / kWarps);
    const int cap = mp <= 4 * kWarps ? std::max(page_a_warp, std::min(mp, sms / units)) : page_a_warp;
    const int splits = std::max(std::clamp((sms + units - 1) / units, 1, cap), most);
    int pps = (mp + splits - 1) / splits;
    if (pps > kWarps) pps = std::min(kMaxPagesPerSplit, (pps + kWarps - 1) / kWarps * kWarps);
    p.pages_per_split = pps;
  }
  p.splits = (mp + p.pages_per_split - 1) / p.pages_per_split;
  p.rows = size_t(kv.batch) * size_t(num_q_heads);
  // part_m, part_l (each padded to 4 floats, so the partial vectors start 16-byte aligned for the
  // merge's vector loads), part_rot, part_plain
  const size_t n = size_t(p.splits) * p.rows, n4 = (n + 3) & ~size_t{3};
  p.bytes = (2 * n4 + 2 * n * size_t(kv.head_dim)) * sizeof(float);
  return p;
}

}  // namespace skv::kernels
