// ADA tier layout: the byte contract between core/codecs (who encodes and sizes pages) and the
// attention kernels (who read them). Plain C++, usable from host and device code; no CUDA
// headers needed. docs/KERNELS.md explains the choices; SPHERICAL_KV.md section 1 the method.
//
// Encoding math (one token, one (layer, kv head)):
//   Pi = H_d / sqrt(d) * diag(signs): normalized Walsh-Hadamard in natural (Sylvester) order,
//        H[i][j] = (-1)^popcount(i & j), after multiplying by signs[i] = +-1 (given per (layer, kv
//        head)). Pi^T y = signs * (H_d y / sqrt(d)).
//   keys:   k~ = k - m_p (m_p = fp16 page mean, only if page_mean), x = Pi k~, r = |x|, u = x / r,
//           codes c = nearest level per coordinate of u (COORD) or, per plane (u[2i], u[2i+1]),
//           nearest angle + nearest plane radius (PAIR), u^ = decoded direction,
//           scale s = r / |u^| stored fp16, so that k~ ~= s * Pi^T u^ (kernel never divides).
//           r == 0 (or |u^| == 0) stores codes 0 and scale 0.
//   PAIR:   per plane i, phi = atan2(u[2i+1], u[2i]) in [0, 2pi), angle code
//           ca = floor(phi * 2^a / 2pi) (the nearest of the centres theta_c = 2pi (c + 0.5) / 2^a),
//           plane radius rho = sqrt(u[2i]^2 + u[2i+1]^2), radius code cr = nearest of the 2^p
//           plane-radius levels; code = (cr << a) | ca; decoded plane = rho_cr (cos, sin)(theta_ca).
//   values: the same without the mean (COORD, bv bits, scale s_v = |Pi v| / |u^_v|), or fp16
//           as is (not rotated).
//   FP16 keys: stored as is (no mean, no rotation, no scale).
//
// Logit of key j on page p for query q (q' = Pi q):
//   s_j = (q . m_p + s_j * sum_g T[g][c_g(j)]) * sm_scale,  sm_scale = 1/sqrt(d) by default,
//   COORD: T[i][c] = q'[i] * level[c];  PAIR: T[i][c] = rho[c >> a] * (q'[2i] cos th + q'[2i+1] sin th).
// Output = (sum_j p_j v_j) / sum_j p_j where coded values contribute s_v,j * Pi^T u^_v,j
// (accumulated in the rotated domain, Pi^T applied once per head after the split merge).
//
// Page byte layout (one page = one tier, P token slots, struct of arrays, each array starting
// on a 16-byte boundary, arrays in this order, page size a multiple of 16):
//   key codes     P x key_words_per_token uint32   (group g of a token at bit g*cb of the token's
//                                                   word run, LSB-first, may straddle 2 words)
//                 or, FP16 keys, P x d fp16
//   key scales    P x fp16                         (coded keys only)
//   values        P x value_words_per_token uint32 (COORD) or P x d fp16 (FP16)
//   value scales  P x fp16                         (COORD values only)
//   page mean     d x fp16                         (coded keys with page_mean only)
// Unused token slots (t >= page token count) may hold anything; kernels never read them into
// the result.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define SKV_HD __host__ __device__
#else
#define SKV_HD
#endif

namespace skv::kernels {

enum class KeyKind : uint8_t { kFp16 = 0, kCoord = 1, kPair = 2 };
enum class ValueKind : uint8_t { kFp16 = 0, kCoord = 1 };

struct TierLayout {
  int head_dim = 128;                        // d: 64 or 128
  KeyKind key_kind = KeyKind::kCoord;
  int key_bits = 3;                          // COORD: bits per coordinate b; PAIR: angle bits a
  int key_radius_bits = 0;                   // PAIR: plane-radius bits p (0 = unit radius)
  ValueKind value_kind = ValueKind::kCoord;
  int value_bits = 4;                        // COORD values: bits per coordinate bv
  bool page_mean = true;                     // coded keys only; ignored for FP16 keys
  int page_tokens = 64;                      // P
};

// Per-page metadata the page table holds (see page_table.h): PageInfo (16 B) + its int32 index.
inline constexpr int kPageMetaBytes = 16 + 4;

SKV_HD constexpr size_t align16(size_t n) { return (n + 15) & ~size_t{15}; }

SKV_HD constexpr bool keys_coded(const TierLayout& l) { return l.key_kind != KeyKind::kFp16; }
SKV_HD constexpr bool has_page_mean(const TierLayout& l) { return keys_coded(l) && l.page_mean; }

// Number of code groups per key: d coordinates (COORD) or d/2 planes (PAIR).
SKV_HD constexpr int key_groups(const TierLayout& l) {
  return l.key_kind == KeyKind::kCoord ? l.head_dim : l.key_kind == KeyKind::kPair ? l.head_dim / 2 : 0;
}
// Bits of one group's code: b (COORD) or a + p (PAIR).
SKV_HD constexpr int key_code_bits(const TierLayout& l) {
  return l.key_kind == KeyKind::kCoord ? l.key_bits
         : l.key_kind == KeyKind::kPair ? l.key_bits + l.key_radius_bits : 16;
}
SKV_HD constexpr int key_words_per_token(const TierLayout& l) {
  return keys_coded(l) ? (key_groups(l) * key_code_bits(l) + 31) / 32 : 0;
}
SKV_HD constexpr int value_words_per_token(const TierLayout& l) {
  return l.value_kind == ValueKind::kCoord ? (l.head_dim * l.value_bits + 31) / 32 : 0;
}
// Codebook sizes (floats the caller passes): COORD 2^b levels; PAIR 2^p plane radii.
SKV_HD constexpr int key_level_count(const TierLayout& l) {
  return l.key_kind == KeyKind::kCoord ? (1 << l.key_bits)
         : l.key_kind == KeyKind::kPair ? (1 << l.key_radius_bits) : 0;
}
SKV_HD constexpr int value_level_count(const TierLayout& l) {
  return l.value_kind == ValueKind::kCoord ? (1 << l.value_bits) : 0;
}

struct PageOffsets {
  size_t key_codes = 0, key_scales = 0, values = 0, value_scales = 0, mean = 0, total = 0;
};

// Byte offsets of each array inside a page, and the page size. Everything 16-byte aligned.
SKV_HD constexpr PageOffsets page_offsets(const TierLayout& l) {
  const size_t P = size_t(l.page_tokens), d = size_t(l.head_dim);
  PageOffsets o{};
  size_t at = 0;
  o.key_codes = at;
  at += align16(keys_coded(l) ? P * size_t(key_words_per_token(l)) * 4 : P * d * 2);
  o.key_scales = at;
  at += keys_coded(l) ? align16(P * 2) : 0;
  o.values = at;
  at += align16(l.value_kind == ValueKind::kCoord ? P * size_t(value_words_per_token(l)) * 4 : P * d * 2);
  o.value_scales = at;
  at += l.value_kind == ValueKind::kCoord ? align16(P * 2) : 0;
  o.mean = at;
  at += has_page_mean(l) ? align16(d * 2) : 0;
  o.total = at;
  return o;
}
SKV_HD constexpr size_t page_bytes(const TierLayout& l) { return page_offsets(l).total; }
SKV_HD constexpr size_t key_page_bytes(const TierLayout& l) {  // codes + scales + mean
  const PageOffsets o = page_offsets(l);
  return (o.values - o.key_codes) + (o.total - o.mean);
}
SKV_HD constexpr size_t value_page_bytes(const TierLayout& l) {
  const PageOffsets o = page_offsets(l);
  return o.mean - o.values;
}
// Bits per stored element (one coordinate of one token of one head), everything counted:
// codes, fp16 scales, page mean, alignment padding, and (total only) the page-table metadata.
SKV_HD constexpr double key_bits_per_element(const TierLayout& l) {
  return 8.0 * double(key_page_bytes(l)) / double(l.page_tokens * l.head_dim);
}
SKV_HD constexpr double value_bits_per_element(const TierLayout& l) {
  return 8.0 * double(value_page_bytes(l)) / double(l.page_tokens * l.head_dim);
}
SKV_HD constexpr double total_bits_per_element(const TierLayout& l) {  // K + V + metadata, per K+V pair
  return 8.0 * double(page_bytes(l) + kPageMetaBytes) / double(l.page_tokens * l.head_dim);
}
SKV_HD constexpr double bytes_per_token_per_head(const TierLayout& l) {  // K + V + metadata
  return double(page_bytes(l) + kPageMetaBytes) / double(l.page_tokens);
}

// nullptr when the layout is one the CPU reference handles; otherwise a one-line reason.
// (The CUDA kernels have narrower limits: see ada_attention.h.)
SKV_HD constexpr const char* validate_layout(const TierLayout& l) {
  if (l.head_dim != 64 && l.head_dim != 128) return "head_dim must be 64 or 128";
  if (l.key_kind != KeyKind::kFp16 && l.key_kind != KeyKind::kCoord && l.key_kind != KeyKind::kPair)
    return "unknown key kind (kernels know FP16, COORD and PAIR keys)";
  if (l.value_kind != ValueKind::kFp16 && l.value_kind != ValueKind::kCoord)
    return "unknown value kind (kernels know FP16 and COORD values)";
  if (l.page_tokens < 1 || l.page_tokens > 256) return "page_tokens must be in 1..256";
  if (l.key_kind == KeyKind::kCoord && (l.key_bits < 1 || l.key_bits > 8)) return "COORD key bits must be in 1..8";
  if (l.key_kind == KeyKind::kPair &&
      (l.key_bits < 1 || l.key_radius_bits < 0 || l.key_bits + l.key_radius_bits > 8))
    return "PAIR key bits: angle a >= 1, radius p >= 0, a + p <= 8";
  if (l.value_kind == ValueKind::kCoord && (l.value_bits < 1 || l.value_bits > 8)) return "COORD value bits must be in 1..8";
  return nullptr;
}

}  // namespace skv::kernels
