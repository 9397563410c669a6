// 4-bit value levels looked up with byte permutes (PRMT) for the v7 decode kernel's value MMA
// (kernels/cuda/ada_decode_mma.cu; docs/KERNELS.md "v7 round"). Plain C++, host and device: the
// CUDA kernel and the CPU test (tests/kernels/ada_value_table_test.cpp) use the same functions;
// on the host `prmt` is an emulation of the instruction.
//
// The 16 levels, rounded to fp16, are kept as byte planes: PRMT picks 4 bytes out of 8 (two
// registers) with 4 selector nibbles, so a plane of 8 levels is one lookup.
//   general:   lo and hi bytes of levels 0-7 (table a) and 8-15 (table b); a code's bit 3 picks
//              the table, per byte, with a mask from a sign-mode PRMT of the codes: 21 ops / 8 codes.
//   symmetric: levels with l(15 - c) = -l(c) bit for bit in fp16 (the Lloyd-Max codebooks of the
//              codecs are): table b alone, indexed by c & 7 for c >= 8 and by 7 - c for c < 8,
//              whose fp16 sign bit is then flipped: 17 ops / 8 codes. The tables are the same.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define SKV_VT_HD __host__ __device__ __forceinline__
#else
#define SKV_VT_HD inline
#endif

namespace skv::kernels::value_table {

struct alignas(16) ValueTable {
  uint32_t lo_a0, lo_a1, lo_b0, lo_b1, hi_a0, hi_a1, hi_b0, hi_b1;
  uint32_t symmetric;                                                // 1: the symmetric lookup applies
};

// PRMT (default mode): byte i of the result is byte (nibble i of sel) & 7 of {b, a} (a bytes 0-3),
// or, when the nibble's bit 3 is set, that byte's sign bit replicated (0x00 or 0xFF).
SKV_VT_HD uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
#if defined(__CUDA_ARCH__)
  uint32_t r;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
  return r;
#else
  const uint64_t src = (uint64_t(b) << 32) | a;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) {
    const uint32_t n = (sel >> (4 * i)) & 0xFu;
    uint32_t byte = uint32_t(src >> (8 * (n & 7u))) & 0xFFu;
    if (n & 8u) byte = (byte & 0x80u) ? 0xFFu : 0u;
    r |= byte << (8 * i);
  }
  return r;
#endif
}

// The tables of 16 fp16 level bit patterns.
SKV_VT_HD ValueTable make_table(const uint16_t* bits) {
  bool sym = true;
  for (int c = 0; c < 8; ++c) sym = sym && bits[c] == uint16_t(bits[15 - c] ^ 0x8000u);
  uint32_t w[8] = {};
  for (int c = 0; c < 16; ++c) {
    const int half = c >> 3, byte = c & 7;  // table a (levels 0-7) or b (8-15), byte in the table
    w[2 * half + (byte >> 2)] |= uint32_t(bits[c] & 0xFFu) << (8 * (byte & 3));
    w[4 + 2 * half + (byte >> 2)] |= uint32_t(bits[c] >> 8) << (8 * (byte & 3));
  }
  return {w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], sym ? 1u : 0u};
}

// Levels of nibbles 4P .. 4P+3 of two tokens' value words wa, wb (8 codes each): h[j] = half2
// (level of nibble 4P + j of wa, the same of wb), the pair the MMA's A fragment wants (two tokens
// of one dim). Codes are mixed byte-wise first, so one selector serves both tokens.
template <int P, bool SYM>
SKV_VT_HD void value_pairs(uint32_t wa, uint32_t wb, const ValueTable& T, uint32_t (&h)[4]) {
  // nibbles of X: a(4P), a(4P+1), b(4P), b(4P+1), a(4P+2), a(4P+3), b(4P+2), b(4P+3)
  const uint32_t X = prmt(wa, wb, P == 0 ? 0x5140u : 0x7362u);
  const uint32_t X4 = X << 4;
  uint32_t sel;
  if constexpr (SYM) {
    // nibble c -> c & 7 where c >= 8, 7 - c = c ^ 7 where c < 8
    const uint32_t up = (X >> 3) & 0x11111111u;                // 1 where c >= 8
    sel = (X ^ (0x77777777u - 7u * up)) & 0x77777777u;
  } else {
    sel = X & 0x77777777u;
  }
  for (int half = 0; half < 2; ++half) {
    const uint32_t s = half ? sel >> 16 : sel;
    // 0xFF in byte k where code k (of the 4 this half selects) is >= 8: its bit 3 is the msb of a
    // byte of X (odd nibbles) or of X << 4 (even nibbles).
    const uint32_t m = prmt(X, X4, half ? 0xBFAEu : 0x9D8Cu);
    uint32_t lo, hi;
    if constexpr (SYM) {
      lo = prmt(T.lo_b0, T.lo_b1, s);
      hi = prmt(T.hi_b0, T.hi_b1, s) ^ (~m & 0x80808080u);  // codes < 8: level 15 - c negated
    } else {
      lo = (prmt(T.lo_b0, T.lo_b1, s) & m) | (prmt(T.lo_a0, T.lo_a1, s) & ~m);
      hi = (prmt(T.hi_b0, T.hi_b1, s) & m) | (prmt(T.hi_a0, T.hi_a1, s) & ~m);
    }
    h[2 * half] = prmt(lo, hi, 0x6240u);      // nibble 4P + 2 half of a, of b
    h[2 * half + 1] = prmt(lo, hi, 0x7351u);  // nibble 4P + 2 half + 1
  }
}

}  // namespace skv::kernels::value_table
