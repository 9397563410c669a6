#pragma once
// The tiers a TieredKvCache stores pages in: an ADA tier format (core/codecs/tier_format.h, data in
// assets/tiers/*.json) resolved for one head_dim, plus its codebooks and exact page cost.
//
// One extra kind lives here: KIVI-style b-bit scalar quantization (Liu et al. 2024, "KIVI: a
// tuning-free asymmetric 2bit quantization for KV cache"): keys per channel over the page's
// tokens, values per token in groups of 32 channels, min/max (scale + zero) in fp16. The ADA
// kernels have no KIVI layout, so a KIVI page is *emulated*: the dequantized keys/values are
// stored as an fp16 page, and the bytes charged are those KIVI's own layout needs
// (accounted_page_bytes), so budgets compare like with like.
#include <string>
#include <vector>

#include "core/codecs/tier_format.h"
#include "kernels/ada_layout.h"
#include "kernels/page_table.h"

namespace skv {

struct CacheTier {
  std::string name;
  kernels::TierLayout layout;          // what the arena stores
  codecs::TierCodebookSet books;       // keep alive: layout's codebooks point into it
  int kivi_bits = 0;                   // > 0: KIVI emulation (fp16 layout, KIVI bytes charged)
  size_t stored_page_bytes = 0;        // page_bytes(layout)
  size_t accounted_page_bytes = 0;     // bytes the format needs for one page (K + V + mean + scales)

  bool fp16_exact() const {            // keys and values kept as fp16 (no quantization at all)
    return kivi_bits == 0 && !kernels::keys_coded(layout) && layout.value_kind == kernels::ValueKind::kFp16;
  }
  // Bytes per token per head, page-table metadata included (full pages).
  double bytes_per_token() const {
    return double(accounted_page_bytes + kernels::kPageMetaBytes) / double(layout.page_tokens);
  }
  double page_cost() const { return double(accounted_page_bytes + kernels::kPageMetaBytes); }
};

CacheTier make_cache_tier(const codecs::TierFormat& format, int head_dim);
CacheTier make_kivi_tier(int bits, int head_dim, int page_tokens = 64);

// "kivi2", "kivi4" (any kiviN, N in 1..8), or a tier file name of assets/tiers ("k3v4", "fp16").
CacheTier load_cache_tier(const std::string& name, int head_dim);
// A comma list of tier names ("fp16,k4v4,k2v2") or the name of a tier-set file ("default_set").
std::vector<CacheTier> load_cache_tiers(const std::string& spec, int head_dim);

// KIVI fake quantization of `count` tokens [count, d]: keys per channel over the tokens, values
// per token in groups of 32 channels, asymmetric (min, max) with 2^bits levels, fp16 scale/zero.
void kivi_quantize(int bits, int count, int d, const float* keys, const float* values, float* keys_out,
                   float* values_out);

}  // namespace skv
