// Paged KV cache view for one layer, FlashInfer-style CSR (include/flashinfer/page.cuh shape):
// for sequence s and kv head h, the pages are indices[indptr[s*Hkv + h] .. indptr[s*Hkv + h + 1]),
// in position order. Each page is tier-homogeneous (one TierLayout) and lives at a byte offset
// of one arena. The same struct is used with host pointers (kernels/cpu) and device pointers
// (kernels/cuda); nothing here owns memory.
//
// Query [B, Hq, d] float32, output [B, Hq, d] float32; GQA: Hq = Hkv * group, query head qh reads
// kv head qh / group.
#pragma once
#include <cstdint>

#include "kernels/ada_layout.h"

namespace skv::kernels {

struct PageInfo {             // 16 bytes (counted in kPageMetaBytes)
  uint64_t byte_offset = 0;   // into the arena; a multiple of 16
  uint32_t tier = 0;          // index into TierTable
  uint32_t tokens = 0;        // valid tokens, 1..page_tokens, in slots 0..tokens-1
};
static_assert(sizeof(PageInfo) == 16);

struct TierCodebooks {
  const float* key_levels = nullptr;    // COORD: 2^b levels; PAIR: 2^p plane radii; FP16: unused
  const float* value_levels = nullptr;  // COORD values: 2^bv levels; FP16: unused
  // Set it to codebooks_symmetric(layout, host levels) (CUDA calls only; the CPU code ignores it):
  // with every tier symmetric the v7 kernel runs a build without its general paths (faster:
  // docs/KERNELS.md "session 7"). A tier marked symmetric that is not makes that kernel write NaN.
  bool symmetric = false;
};

inline constexpr int kMaxTiers = 8;

// Whether a tier's levels (host pointers) have the symmetry the v7 kernel's fast build needs: the
// tier is v7's (3-bit COORD keys, 4-bit COORD values), its key levels need only the four odd bit
// planes (kernels/ada_bitplane.h: l(7 - c) = -l(c) to float rounding) and its value levels satisfy
// l(15 - c) = -l(c) bit for bit once rounded to fp16 (kernels/ada_value_table.h). The Lloyd-Max
// codebooks of core/codecs do.
bool codebooks_symmetric(const TierLayout& layout, const float* key_levels, const float* value_levels);

struct TierTable {
  int count = 0;
  TierLayout layouts[kMaxTiers];
  TierCodebooks codebooks[kMaxTiers];
};

struct PagedKv {
  const uint8_t* arena = nullptr;
  const PageInfo* pages = nullptr;   // indexed by page id
  const int32_t* indptr = nullptr;   // [batch * num_kv_heads + 1]
  const int32_t* indices = nullptr;  // page ids
  const int8_t* signs = nullptr;     // [num_kv_heads][head_dim], +-1: Pi of this layer per kv head
  int batch = 0;
  int num_kv_heads = 0;
  int head_dim = 0;                  // every tier's head_dim must equal this
  TierTable tiers;
};

}  // namespace skv::kernels
