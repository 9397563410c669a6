#pragma once
// Re-tiering a sealed page without the original vectors (SPHERICAL_KV.md 1 step 4).
// coord-lloyd b -> b' <= b and pair-polar (a, p) -> (a', p') with a' <= a, p' <= p drop the low
// bits of each code (exact for "nested" codebooks: the result equals encoding the same vector
// directly at the coarse tier, up to one fp16 rounding of the scale). The fp16 scale is
// recomputed from the stored one: r = s |u^_fine| is the stored radius, s' = r / |u^_coarse|.
// The page mean is kept. fp16 parts are re-encoded from their fp16 contents; coded -> fp16
// decodes. Other changes (coord <-> pair, finer bits, unnested codebooks) throw skv::Error.
#include <cstdint>

#include "core/codecs/tier_format.h"

namespace skv::codecs {

// True when `from` pages can become `to` pages by demote_page.
bool can_demote(const TierFormat& from, const TierFormat& to, std::string* why = nullptr);

// src: a page of `from` (page_bytes of its layout), dst: a page of `to`; `tokens` valid slots.
// signs: the page's (layer, kv head) Hadamard signs, d entries.
void demote_page(const TierFormat& from, const TierFormat& to, int head_dim, const int8_t* signs,
                 const uint8_t* src, int tokens, uint8_t* dst);

}  // namespace skv::codecs
