// Bit-plane scoring of 3-bit COORD keys on integer tensor cores (the v6 decode kernel,
// kernels/cuda/ada_decode_wpp.cu; docs/KERNELS.md "v6 round"). Plain C++, host and device: the
// CUDA kernel and the CPU test (tests/kernels/ada_bitplane_test.cpp) use the same functions.
//
// Algebra. A 3-bit code c has bits b0 (LSB), b1, b2; with y_j = 1 - 2 b_j in {-1, +1} every
// function of c is multilinear in the y_j (Walsh expansion):
//   l(c) = sum_{S subset of {0,1,2}} beta_S prod_{j in S} y_j,   beta_S = 1/8 sum_c l(c) prod_{j in S} y_j(c),
// and prod_{j in S} y_j = 1 - 2 x_S with x_S = XOR of the bits in S, so
//   l(c) = sum_S beta_S - 2 sum_{S != {}} beta_S x_S(c)                    (exact, 7 binary planes).
// A codebook symmetric about 0 (l(7 - c) = -l(c), the Lloyd-Max levels of the sphere-coordinate
// law) has beta_S = 0 for |S| even, S != {}: planes b0, b1, b2 and the parity b0^b1^b2 suffice.
// So q'.l(c) = C sum_i q'_i + sum_i sum_S kappa_S q'_i x_S(c_i), kappa_S = -2 beta_S, C = sum_S beta_S:
// a product of {0,1} bit planes with a real matrix, which the kernel runs as
// mma.m16n8k32 u8 x s8 -> s32 (exact integer sums) with the real coefficients cut into 4 balanced
// signed 8-bit digits (about 29 significant bits, a relative error ~1e-9 of the largest term).
//
// Kernel mapping (per token, lane tig = lane % 4 of the MMA's thread group owns dims
// [tig D/4, (tig+1) D/4), i.e. 3D/4 code bits, kept as NW = ceil(3D/128) 32-bit "span" words):
// plane words in this order: R (NW words, the raw code bits), Par (1 word), and in the general
// case X1 (NW words, R ^ R>>1: span bit 3i b0^b1, 3i+1 b1^b2 of dim i) and X2 (1 word).
// Par and X2 are compacted: the parity P = R ^ R>>1 ^ R>>2 (and R ^ R>>2) carries its one useful
// bit per dim at span bits 3i only, a third of its positions, and span word i's useful bits sit
// at positions p = i (mod 3) (32 = 2 mod 3), so the three words merge into one with two
// bit-selects: position p of the compact word is span bit 32 (p mod 3) + p. So the symmetric
// case runs NW + 1 words (4 at D = 128, not 6), the general one 2 NW + 2 (8, not 12). Every
// other bit position of a plane word gets a zero coefficient. MMA step (word w, u = 0..3): A registers W & (0x01010101 << s), s = 2u (K cols
// 4 tig + j) and s = 2u + 1 (K cols 16 + 4 tig + j): byte j is bit 8j + s of W times 2^s; the B
// table holds, for that K row and column n (head n / 2, digit 2 * (MMA index) + n % 2), digit of
// round(kappa_S q'_{h,dim} 2^(E_h - s)).
#pragma once
#include <math.h>

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SKV_BP_HD __host__ __device__
#define SKV_BP_UNROLL _Pragma("unroll")
#else
#define SKV_BP_HD
#define SKV_BP_UNROLL
#endif

namespace skv::kernels::bitplane {

// Span words per lane and token (D = 64: 48 bits in 2 words; D = 128: 96 bits in 3 words).
SKV_BP_HD constexpr int span_words(int d) { return (3 * (d / 4) + 31) / 32; }
// Plane words per lane and token: R + Par (symmetric codebook) or R + Par + X1 + X2 (general).
SKV_BP_HD constexpr int plane_words(int d, bool general) { return (general ? 2 : 1) * (span_words(d) + 1); }
// MMA k32 steps per 16-token tile, B-table bytes (the general case, the most it needs).
SKV_BP_HD constexpr int mma_steps(int d, bool general) { return 4 * plane_words(d, general); }
inline constexpr int kHeaderBytes = 64;  // cst[4], inv_scale[4], general flag, padding
SKV_BP_HD constexpr int table_bytes(int d) { return kHeaderBytes + mma_steps(d, true) * 32 * 16; }

// Walsh coefficients beta[S] (S = bit mask over {b0, b1, b2}) of 8 levels, in double.
SKV_BP_HD inline void walsh3(const float* levels, double* beta) {
  for (int S = 0; S < 8; ++S) {
    double s = 0;
    for (int c = 0; c < 8; ++c) {
      const int m = c & S, par = (m ^ (m >> 1) ^ (m >> 2)) & 1;
      s += double(levels[c]) * (par ? -1.0 : 1.0);
    }
    beta[S] = s / 8.0;
  }
}

// Plane coefficients: kappa[S] = -2 beta_S for the planes used (0 otherwise) and the constant C.
// general = false when the even pair terms vanish (|beta| <= 1e-7 of the largest level): then
// only b0, b1, b2 and the parity are used and the dropped terms change a logit by at most
// 3e-7 max|l| sum|q'| (the codebooks the codecs build are symmetric to float rounding).
struct Coefficients {
  float kappa[8];
  float constant;
  bool general;
};
// From the Walsh coefficients (the kernels compute beta in parallel, one lane per S).
SKV_BP_HD inline Coefficients coefficients_from_beta(const float* levels, const double* beta) {
  double mx = 0;
  for (int c = 0; c < 8; ++c) mx = fmax(mx, fabs(double(levels[c])));
  Coefficients k{};
  k.general = fabs(beta[3]) > 1e-7 * mx || fabs(beta[5]) > 1e-7 * mx || fabs(beta[6]) > 1e-7 * mx;
  double C = 0;
  for (int S = 0; S < 8; ++S) {
    const bool pair = S == 3 || S == 5 || S == 6;
    const bool used = S != 0 && (k.general || !pair);
    k.kappa[S] = used ? float(-2.0 * beta[S]) : 0.f;
    if (S == 0 || used) C += beta[S];
  }
  k.constant = float(C);
  return k;
}
SKV_BP_HD inline Coefficients coefficients(const float* levels) {
  double beta[8];
  walsh3(levels, beta);
  return coefficients_from_beta(levels, beta);
}
// beta_S alone (walsh3's term for one S).
SKV_BP_HD inline double walsh3_one(const float* levels, int S) {
  double s = 0;
  for (int c = 0; c < 8; ++c) {
    const int m = c & S, par = (m ^ (m >> 1) ^ (m >> 2)) & 1;
    s += double(levels[c]) * (par ? -1.0 : 1.0);
  }
  return s / 8.0;
}

// Which plane (bit mask S, 0 = none) bit `pos` (0..31) of plane word `w` carries, and its dim
// (lane-local, 0 .. D/4 - 1).
SKV_BP_HD inline int plane_of(int d, int w, int pos, int* dim) {
  const int nw = span_words(d), span_bits = 3 * (d / 4);
  const bool x_part = w > nw;                      // X1, X2 (general case)
  const int wi = x_part ? w - (nw + 1) : w;        // index within R + Par or X1 + X2
  const bool compact = wi == nw;                   // Par or X2
  const int span_word = compact ? pos % 3 : wi;    // the span word the bit comes from
  const int span_pos = 32 * span_word + pos;
  *dim = span_pos / 3;
  if (span_word >= nw || span_pos >= span_bits) return 0;
  const int r = span_pos % 3;                      // 0 for the compact words' positions
  if (compact) return x_part ? 5 : 7;
  if (!x_part) return 1 << r;
  return r == 0 ? 3 : r == 1 ? 6 : 0;
}

// Scale exponent of a head: E with max|coefficient| * 2^E < 2^29 (4 balanced s8 digits hold it).
SKV_BP_HD inline int head_exponent(float max_abs_coef) {
  if (!(max_abs_coef > 0.f)) return 0;
  int e = 0;
  (void)frexpf(max_abs_coef, &e);  // max < 2^e
  return 29 - e;
}

// Digit k (0..3, least significant first) of the balanced base-256 expansion of x.
SKV_BP_HD inline int8_t digit(long long x, int k) {
  for (int i = 0; i < k; ++i) {
    const int8_t d = int8_t(uint8_t(x & 255));
    x = (x - d) / 256;
  }
  return int8_t(uint8_t(x & 255));
}

// One 32-bit B-table word: step `step` (= 4 w + u), lane (column n = lane / 4, tig = lane % 4),
// which = 0..3 (MMA 0 b0, b1, MMA 1 b0, b1). q_rot[dim * nh + h] is the rotated query, E[h] the
// head's exponent; heads >= nh get zeros.
SKV_BP_HD inline uint32_t table_word(int d, int nh, int step, int lane, int which, const Coefficients& k,
                                     const float* q_rot, const int* E) {
  const int n = lane >> 2, tig = lane & 3, head = n >> 1, dig = 2 * (which >> 1) + (n & 1);
  const int w = step >> 2, u = step & 3, s = 2 * u + (which & 1);
  if (head >= nh) return 0u;
  uint32_t out = 0;
  for (int j = 0; j < 4; ++j) {
    int dim = 0;
    const int S = plane_of(d, w, 8 * j + s, &dim);
    if (S == 0 || k.kappa[S] == 0.f) continue;
    const double coef = double(k.kappa[S]) * double(q_rot[(tig * (d / 4) + dim) * nh + head]);
    const long long x = llrint(ldexp(coef, E[head] - s));
    out |= uint32_t(uint8_t(digit(x, dig))) << (8 * j);
  }
  return out;
}

// The lane's plane words of one token from its code row (key_words_per_token uint32).
// D = 64, odd lanes start at bit 16 of a word: they read one word past their span (the last lane
// one word past the row: the caller's buffer must allow it); bits beyond the span get zero weights.
SKV_BP_HD inline uint32_t funnel_r(uint32_t lo, uint32_t hi, int s) {
  return s == 0 ? lo : uint32_t(((uint64_t(hi) << 32) | lo) >> s);
}
// Bit-select: bits of a where m is set, of b elsewhere (one LOP3).
SKV_BP_HD inline uint32_t bit_select(uint32_t a, uint32_t b, uint32_t m) { return (a & m) | (b & ~m); }
// The compact word of three span-aligned words p[0..NW-1] whose useful bits are span bits 3i.
template <int NW>
SKV_BP_HD inline uint32_t compact_thirds(const uint32_t* p) {
  constexpr uint32_t kM0 = 0x49249249u, kM2 = 0x24924924u;  // positions 0 and 2 (mod 3)
  uint32_t c = bit_select(p[0], p[1], kM0);                  // positions 1 (mod 3) from word 1
  if constexpr (NW > 2) c = bit_select(p[2], c, kM2);
  return c;
}
template <int D, bool GENERAL>
SKV_BP_HD inline void lane_plane_words(const uint32_t* row, int tig, uint32_t* W) {
  constexpr int NW = span_words(D);
  static_assert(NW == 2 || NW == 3, "D 64 or 128");
  const int start = tig * 3 * (D / 4), w0 = start >> 5, sh = start & 31;
  uint32_t R[NW + 1], P[NW], X2[NW];
  SKV_BP_UNROLL
  for (int i = 0; i < NW; ++i) R[i] = sh ? funnel_r(row[w0 + i], row[w0 + i + 1], sh) : row[w0 + i];
  R[NW] = 0;
  SKV_BP_UNROLL
  for (int i = 0; i < NW; ++i) {
    const uint32_t s1 = funnel_r(R[i], R[i + 1], 1), s2 = funnel_r(R[i], R[i + 1], 2);
    W[i] = R[i];
    P[i] = R[i] ^ s1 ^ s2;
    if constexpr (GENERAL) {
      W[NW + 1 + i] = R[i] ^ s1;
      X2[i] = R[i] ^ s2;
    }
  }
  W[NW] = compact_thirds<NW>(P);
  if constexpr (GENERAL) W[2 * NW + 1] = compact_thirds<NW>(X2);
  (void)X2;
}

}  // namespace skv::kernels::bitplane
