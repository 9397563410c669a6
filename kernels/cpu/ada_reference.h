// CPU reference of the ADA kernels: plain, obviously correct, double accumulation. This is the
// truth every CUDA kernel is tested against (llm.c habit). Formulas: kernels/ada_layout.h.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/page_table.h"

namespace skv::kernels::cpu {

// Unnormalized Walsh-Hadamard transform in natural order, in place, n a power of two.
void fwht(double* x, int n);
// x_out = Pi x = H (signs * x) / sqrt(d)   and   x_out = Pi^T y = signs * (H y) / sqrt(d).
void rotate(const int8_t* signs, const float* x, double* out, int d);
void rotate_transpose(const int8_t* signs, const double* y, double* out, int d);

// Code of group g (cb bits) from a token's word run, LSB-first, may straddle two words.
uint32_t read_code(const uint32_t* words, int g, int cb);
void write_code(uint32_t* words, int g, int cb, uint32_t code);

// Encode `count` tokens (rows of keys/values, [count, d] float32) into slots
// first_slot.. of `page` (page_bytes(layout) bytes). compute_mean: the rows are the whole page
// and its fp16 mean is computed and stored; otherwise the page's stored mean is used.
void encode_page(const TierLayout& layout, const TierCodebooks& books, const int8_t* signs,
                 const float* keys, const float* values, int count, int first_slot, bool compute_mean,
                 uint8_t* page);

// Explicit decode (tests only): k^ = m + s Pi^T u^ (or the fp16 key), v^ likewise. [tokens, d].
void decode_keys(const TierLayout& layout, const TierCodebooks& books, const int8_t* signs,
                 const uint8_t* page, int tokens, float* keys);
void decode_values(const TierLayout& layout, const TierCodebooks& books, const int8_t* signs,
                   const uint8_t* page, int tokens, float* values);

// LUT-scored logits of one query against the first `tokens` keys of a page (no dense key).
void page_logits(const TierLayout& layout, const TierCodebooks& books, const int8_t* signs,
                 const uint8_t* page, int tokens, const float* q, float sm_scale, float* logits);

// ADA paged decode attention over a page table (host pointers). q/out [batch, Hq, d].
// sm_scale 0 means 1/sqrt(d). A (sequence, head) with no pages gives a zero output.
void ada_decode_attention(const PagedKv& kv, const float* q, float* out, int num_q_heads, float sm_scale);

// Dense fp16 paged decode attention: every page's tier must be FP16 keys + FP16 values.
void dense_fp16_decode_attention(const PagedKv& kv, const float* q, float* out, int num_q_heads,
                                 float sm_scale);

// Checks a PagedKv against its tiers (head dims, offsets, token counts); throws KernelError.
void validate_paged_kv(const PagedKv& kv, int num_q_heads, size_t arena_bytes);

}  // namespace skv::kernels::cpu
