#pragma once
// Pages of a CPU-only block-vq tier (TierFormat::cpu_only()): the bytes such a tier stores, laid
// out like kernels/ada_layout.h (struct of arrays, each array on a 16-byte boundary), so its rate
// (tier_rate) is the size of a real page and its logits come from a lookup table, never from a
// dense key. No kernel reads these pages: the ADA kernels and the KV cache refuse the tier
// (TierFormat::layout throws); this is the CPU path that codec-eval's numbers stand for.
//
//   key codes     P x key_words uint32  (block b's code at bit b*bits, LSB-first, may straddle)
//   key scales    P x fp16              s = r / |u^|, r = |Pi (k - m)|
//   values        as ada_layout.h for the tier's values (COORD codes or P x d fp16)
//   value scales  P x fp16              (COORD values)
//   page mean     d x fp16              (page_mean)
//
// Keys: k~ = k - m (m the fp16 page mean), x = Pi k~, u = x/|x|, codes = block-vq(u),
// k^ = m + s Pi^T u^. Logit (q' = Pi q): q.m + s sum_b T[b][c_b], T[b][c] = q'_b . codeword_c.
#include <cstddef>
#include <cstdint>

#include "core/codecs/tier_format.h"

namespace skv::codecs {

struct BlockVqPageLayout {
  size_t key_codes = 0, key_scales = 0, values = 0, value_scales = 0, mean = 0, total = 0;
  int key_words_per_token = 0, value_words_per_token = 0;
};
BlockVqPageLayout block_vq_page_layout(const TierFormat& t, int head_dim);

// Encodes `count` (1..page_tokens) tokens, [count, d] floats, as one whole page (computes and
// stores the fp16 page mean). `page` has block_vq_page_layout(...).total bytes.
void encode_block_vq_page(const TierFormat& t, int head_dim, const int8_t* signs, const float* keys,
                          const float* values, int count, uint8_t* page);

// Explicit decode (tests, codec-eval): k^ and v^ of the first `count` tokens, [count, d].
void decode_block_vq_page(const TierFormat& t, int head_dim, const int8_t* signs, const uint8_t* page, int count,
                          float* keys, float* values);

// LUT-scored logits (q . k^) * sm_scale of one query against the first `count` keys; the table
// is fp32 [d/D][2^bits], built once per call from the rotated query.
void block_vq_page_logits(const TierFormat& t, int head_dim, const int8_t* signs, const uint8_t* page, int count,
                          const float* q, float sm_scale, float* logits);

}  // namespace skv::codecs
