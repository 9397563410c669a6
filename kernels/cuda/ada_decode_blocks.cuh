// Device building blocks of the ADA decode kernels (kernels/cuda/ada_decode_split.cu, v4, and
// kernels/cuda/ada_decode_wpp.cu, v5) and the host-visible launch entry points that
// kernels/cuda/ada_decode.cu (plans, merge, public API) calls. Internal to kernels/cuda.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <type_traits>

#include "kernels/ada_attention.h"
#include "kernels/ada_bitplane.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/decode_plan.h"  // kMaxPagesPerSplit, kWarpPerPageWarps

namespace skv::kernels::ada_detail {

constexpr int kThreads = 256;      // 8 warps
constexpr int kStages = 4;         // cp.async pipeline depth (pages in flight per CTA)
constexpr int kMaxPageTokens = 128;
constexpr int kLanesPerKey = 8;    // lanes scoring one token (a quarter warp: one LDS.128 phase)

template <int NH> struct Vec;
template <> struct Vec<1> { using T = float; };
template <> struct Vec<2> { using T = float2; };
template <> struct Vec<4> { using T = float4; };

template <int NH> __device__ __forceinline__ float get(const typename Vec<NH>::T& v, int i) {
  if constexpr (NH == 1) return v;
  else if constexpr (NH == 2) return i == 0 ? v.x : v.y;
  else return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}
template <int NH> __device__ __forceinline__ void add(typename Vec<NH>::T& a, const typename Vec<NH>::T& b) {
  if constexpr (NH == 1) a += b;
  else if constexpr (NH == 2) { a.x += b.x; a.y += b.y; }
  else { a.x += b.x; a.y += b.y; a.z += b.z; a.w += b.w; }
}

// Shape of a coded-key tier's lookup table. A "unit" is J code groups looked up together:
// two 3-bit (or smaller) coordinates share one joint table of 2^(2b) entries (half the
// lookups); PAIR planes and 4-bit coordinates are looked up alone. Lane k of a token's 8 lanes
// owns units [k*UPL, (k+1)*UPL); LUT entry (m, code) of lane k sits at ((m*E + code)*8 + k), so
// the 8 lanes of a quarter warp always hit 8 different 16-byte bank groups: conflict-free.
struct LutShape {
  int J, nb, E, U, upl;
};
__host__ __device__ inline LutShape lut_shape(const TierLayout& L) {
  LutShape s{};
  const int cb = key_code_bits(L);
  s.J = (L.key_kind == KeyKind::kCoord && cb <= 3) ? 2 : 1;
  s.nb = s.J * cb;
  s.E = 1 << s.nb;
  s.U = key_groups(L) / s.J;
  s.upl = s.U / kLanesPerKey;
  return s;
}
__host__ __device__ inline size_t lut_floats(const TierLayout& L, int nh) {
  if (!keys_coded(L)) return 0;
  const LutShape s = lut_shape(L);
  return size_t(s.U) * size_t(s.E) * size_t(nh);
}

// Per-tier constants of the hot loop, computed once per CTA (page_offsets / lut_shape would
// otherwise be re-derived, with integer divisions, by every warp on every page).
struct TierConst {
  int key_codes, key_scales, values, value_scales, mean;  // byte offsets in the page
  int copy16;    // 16-byte chunks staged per page (the mean is last and is not staged: q.m_p is
                 // computed in the prologue straight from global memory)
  int wpt, vwpt, nb, upl, E, bv, coded, has_mean, vcoded;
  int pad;    // v5: the tier's LUT offset (floats) in the LUT region
  int mma;    // v6: 1 when this tier's keys are scored on the tensor cores (3-bit COORD)
};
__host__ __device__ inline TierConst tier_const(const TierLayout& L) {
  TierConst c{};
  const PageOffsets o = page_offsets(L);
  c.key_codes = int(o.key_codes); c.key_scales = int(o.key_scales); c.values = int(o.values);
  c.value_scales = int(o.value_scales); c.mean = int(o.mean);
  c.has_mean = has_page_mean(L) ? 1 : 0;
  c.copy16 = int((c.has_mean ? o.mean : o.total) / 16);
  c.coded = keys_coded(L) ? 1 : 0;
  c.wpt = key_words_per_token(L);
  c.vwpt = value_words_per_token(L);
  if (c.coded) { const LutShape s = lut_shape(L); c.nb = s.nb; c.upl = s.upl; c.E = s.E; }
  c.vcoded = L.value_kind == ValueKind::kCoord ? 1 : 0;
  c.bv = L.value_bits;
  return c;
}
// q_plain row index with one 16-byte pad every 16 dims: the 8 lanes of a key read dims 16 apart
// (dense fp16 scoring), which without the pad all land in one bank group.
__host__ __device__ constexpr int qidx(int dim) { return dim + (dim >> 4); }

struct SmemPlan {
  size_t tiers, tconst, qm, pinfo, q_plain, q_rot, raw, weights, state, klev, vlev, scratch, stages, total, stage_bytes;
};
__host__ __device__ inline SmemPlan smem_plan(const TierTable& tt, int d, int nh) {
  size_t lut = 0, stage = 16;
  for (int t = 0; t < tt.count; ++t) {
    lut = lut > lut_floats(tt.layouts[t], nh) ? lut : lut_floats(tt.layouts[t], nh);
    stage = stage > page_bytes(tt.layouts[t]) ? stage : page_bytes(tt.layouts[t]);
  }
  const size_t red = size_t(kThreads / 32) * size_t(nh) * size_t(d);
  SmemPlan p{};
  size_t at = 0;
#define SKV_TAKE(field, bytes) p.field = at; at += align16(bytes)
  SKV_TAKE(tiers, sizeof(TierTable));
  SKV_TAKE(tconst, sizeof(TierConst) * kMaxTiers);
  SKV_TAKE(qm, sizeof(float) * 4 * kMaxPagesPerSplit);
  SKV_TAKE(pinfo, sizeof(PageInfo) * kMaxPagesPerSplit);
  SKV_TAKE(q_plain, sizeof(float) * qidx(d) * nh);
  SKV_TAKE(q_rot, sizeof(float) * d * nh);
  SKV_TAKE(raw, sizeof(float) * kMaxPageTokens * nh);
  SKV_TAKE(weights, sizeof(float) * kMaxPageTokens * nh);
  SKV_TAKE(state, sizeof(float) * 4 * (kThreads / 32) * 4);  // per warp: qm, alpha, m, l (4 heads)
  SKV_TAKE(klev, sizeof(float) * 64);   // COORD b <= 4, PAIR radii 2^p <= 32
  SKV_TAKE(vlev, sizeof(float) * 32);   // bv <= 5
  SKV_TAKE(scratch, sizeof(float) * (lut > red ? lut : red));
  p.stage_bytes = align16(stage);
  SKV_TAKE(stages, p.stage_bytes * kStages);
#undef SKV_TAKE
  p.total = at;
  return p;
}

// Page bytes stream through L2 evict-first (they are read once per call; the page tables, queries
// and partials that the next calls reuse stay in L2: v7 on the H100, 41.6-42.1 us against
// 42.9-43.1 at the target row). Every caller copies page bytes.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  // Not volatile: with a constant fraction ptxas folds the policy into a constant (the v4 and v5
  // kernels' SASS holds no CREATEPOLICY: cuobjdump on the H100 build, 2026-11-27).
  uint64_t policy;
  asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "l"(policy));
#else
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
#endif
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// The per-tier constants (threads 32 .. 39) into shared memory; the caller's next barrier publishes
// them. Indexing a kernel-parameter array by a runtime tier id would copy the whole parameter
// struct to local memory, hence the unrolled loop; adjust(c, t) sets a kernel's own fields (LUT
// offset, MMA flag). v7 needs only these (it reads the tier count from the parameters).
template <class Adjust>
__device__ __forceinline__ void stage_tier_consts(const PagedKv& kv, TierConst* tcs, Adjust adjust) {
#pragma unroll
  for (int t = 0; t < kMaxTiers; ++t)
    if (threadIdx.x == 32 + t && t < kv.tiers.count) {
      TierConst c = tier_const(kv.tiers.layouts[t]);
      adjust(c, t);
      tcs[t] = c;
    }
}
// The first step of the v4-v6 kernels: the tier table (thread 0) and the tier constants.
template <class Adjust>
__device__ __forceinline__ void stage_tier_table(const PagedKv& kv, TierTable& tt, TierConst* tcs, Adjust adjust) {
  if (threadIdx.x == 0) tt = kv.tiers;
  stage_tier_consts(kv, tcs, adjust);
}

// v7's end-of-split reduction scratch: [16 warps x 4 heads] rows of this many floats. Lane (g, t)
// writes dims g D/8 + i of head t at column dim + 4 (dim / (D/8)): the row stride is 1 (mod 32)
// and the g blocks start 4 banks apart (mod 32), so the 32 lanes of a store hit 32 banks.
__host__ __device__ constexpr int mma_reduction_stride(int d) { return (d + 32 + 31) / 32 * 32 + 1; }
__host__ __device__ constexpr int mma_reduction_col(int d, int dim) { return dim + 4 * (dim / (d / 8)); }

// Shared-memory plan of the warp-per-page kernel (v5): every coded tier's LUT lives in shared
// memory at once (warps may be on pages of different tiers), and each warp owns a private
// 2-stage page buffer plus its logits/weights scratch.
constexpr int kWppThreads = 32 * kWarpPerPageWarps;  // v5-v7: 16 warps, one CTA per SM

struct WppPlan {
  size_t tiers, tconst, pinfo, q_plain, q_rot, klev, vlev, state, luts, warps, total;
  size_t warp_bytes, wraw, wwt, walpha, stage, stage_bytes;
  int key_bytes;           // stage layout: keys (codes + scales) at 0, values (+ scales) at key_bytes
  int lut_off[kMaxTiers];  // floats into the LUT region, per coded tier
};

struct DecodeParams {
  PagedKv kv;
  SmemPlan plan;
  WppPlan wpp;
  const float* q;
  int num_q_heads, group, chunks, splits, pages_per_split;
  float scale_log2;  // sm_scale * log2(e): softmax in base 2
  float* part_m;     // [splits][B*Hq]
  float* part_l;     // [splits][B*Hq]
  float* part_rot;   // [splits][B*Hq][d]
  float* part_plain; // [splits][B*Hq][d]
};

// ---- per-page building blocks shared by both decode kernels ------------------------------------
// A warp processes tokens [t0w, t1w) of a page already in `page` (shared memory, or global memory
// for FP16-key pages in the v5 kernel): logits into wraw, the online softmax into wwt/m/l, then
// the weighted values into the accumulators.

__device__ __forceinline__ float4 lds128(uint32_t addr) {
  float4 v;
  asm("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(addr));
  return v;
}

// Byte offset of LUT entry `code` (6-bit field at bit F of the lane's 48-bit window lo|hi<<32)
// relative to unit m's table: code * 8 lanes * 16 B = code << 7. Compile-time F: one or two
// shifts and a mask, no 64-bit arithmetic.
template <int F>
__device__ __forceinline__ uint32_t pair6_offset(uint32_t lo, uint32_t hi) {
  constexpr uint32_t kMask = 63u << 7;
  if constexpr (F + 6 <= 32) {
    if constexpr (F >= 7) return (lo >> (F - 7)) & kMask;
    else return (lo << (7 - F)) & kMask;
  } else if constexpr (F >= 32) {
    if constexpr (F - 32 >= 7) return (hi >> (F - 32 - 7)) & kMask;
    else return (hi << (7 - (F - 32))) & kMask;
  } else {
    return ((lo >> (F - 7)) | (hi << (32 + 7 - F))) & kMask;
  }
}

// Sum of the 8 units of one token's lane: LUT loads for both token groups of an iteration are
// issued before any add, and the adds form a tree (depth 3, not a chain of 8).
__device__ __forceinline__ float4 pairs6_lane_sum(uint32_t lut, uint32_t lo, uint32_t hi) {
  constexpr uint32_t kUnit = 64u * 8u * 16u;  // bytes of one unit's table
  const float4 v0 = lds128(lut + 0 * kUnit + pair6_offset<0>(lo, hi));
  const float4 v1 = lds128(lut + 1 * kUnit + pair6_offset<6>(lo, hi));
  const float4 v2 = lds128(lut + 2 * kUnit + pair6_offset<12>(lo, hi));
  const float4 v3 = lds128(lut + 3 * kUnit + pair6_offset<18>(lo, hi));
  const float4 v4 = lds128(lut + 4 * kUnit + pair6_offset<24>(lo, hi));
  const float4 v5 = lds128(lut + 5 * kUnit + pair6_offset<30>(lo, hi));
  const float4 v6 = lds128(lut + 6 * kUnit + pair6_offset<36>(lo, hi));
  const float4 v7 = lds128(lut + 7 * kUnit + pair6_offset<42>(lo, hi));
  auto add4 = [](float4 a, float4 c) { return make_float4(a.x + c.x, a.y + c.y, a.z + c.z, a.w + c.w); };
  return add4(add4(add4(v0, v1), add4(v2, v3)), add4(add4(v4, v5), add4(v6, v7)));
}

// Transposed reduction over the 8 lanes of a key: 4 shuffles instead of 12. After it, lane kq < 4
// holds the full sum of head 2 (kq & 1) + (kq >> 1).
__device__ __forceinline__ float reduce_key_lanes4(float4 acc, int kq) {
  const bool b0 = kq & 1, b1 = kq & 2;
  float s0 = b0 ? acc.z : acc.x, s1 = b0 ? acc.w : acc.y;
  const float o0 = b0 ? acc.x : acc.z, o1 = b0 ? acc.y : acc.w;
  s0 += __shfl_xor_sync(0xffffffffu, o0, 1);
  s1 += __shfl_xor_sync(0xffffffffu, o1, 1);
  float r1 = b1 ? s1 : s0;
  r1 += __shfl_xor_sync(0xffffffffu, b1 ? s0 : s1, 2);
  r1 += __shfl_xor_sync(0xffffffffu, r1, 4);
  return r1;
}

// Scoring fast path for the target tiers (COORD 3-bit keys, joint pair tables, d = 128, NH = 4):
// lane kq owns bits [48 kq, 48 kq + 48) of the token's 12-word code row (two word loads), each of
// its 8 units is one shift + mask + add + LDS.128 (the generic path spends ~15 instructions a
// lookup on 64-bit window shifts and index arithmetic). Two token groups (8 tokens) per
// iteration: their loads, adds and shuffles are independent, so they overlap (latency, not
// issue, limited the one-group loop).
__device__ __forceinline__ void score_pairs6_d128(const unsigned char* page, const TierConst& tc,
                                                  const float* lut_base, int t0w, int t1w, int lane, float* wraw) {
  const int kq = lane % kLanesPerKey, gq = lane / kLanesPerKey;
  const auto* rows = reinterpret_cast<const uint32_t*>(page + tc.key_codes);
  const auto* kscale = reinterpret_cast<const __half*>(page + tc.key_scales);
  const int w0 = (48 * kq) >> 5;
  const bool odd = kq & 1;  // window starts at bit 16 of word w0
  const uint32_t lut = static_cast<uint32_t>(__cvta_generic_to_shared(lut_base)) + uint32_t(kq) * 16u;
  constexpr int kStep = 32 / kLanesPerKey;  // tokens per group
  for (int tb = t0w; tb < t1w; tb += 2 * kStep) {
    const int ta = tb + gq, tc2 = tb + kStep + gq;
    const bool va = ta < t1w, vb = tc2 < t1w;
    // Out-of-range tokens read token t0w's codes (valid memory) and are never stored.
    const uint32_t* wa = rows + (va ? ta : t0w) * 12 + w0;
    const uint32_t* wb = rows + (vb ? tc2 : t0w) * 12 + w0;
    const uint32_t a0 = wa[0], a1 = wa[1], b0w = wb[0], b1w = wb[1];
    const uint32_t loa = odd ? __funnelshift_r(a0, a1, 16) : a0, hia = odd ? (a1 >> 16) : a1;
    const uint32_t lob = odd ? __funnelshift_r(b0w, b1w, 16) : b0w, hib = odd ? (b1w >> 16) : b1w;
    const float4 acca = pairs6_lane_sum(lut, loa, hia);
    const float4 accb = pairs6_lane_sum(lut, lob, hib);
    const float ra = reduce_key_lanes4(acca, kq);
    const float rb = reduce_key_lanes4(accb, kq);
    const int slot = 2 * (kq & 1) + (kq >> 1);
    if (kq < 4 && va) wraw[(ta - t0w) * 4 + slot] = __half2float(kscale[ta]) * ra;
    if (kq < 4 && vb) wraw[(tc2 - t0w) * 4 + slot] = __half2float(kscale[tc2]) * rb;
  }
}

// Both kernels' per-warp value accumulators (rotated-domain coded values, plain fp16 values).
template <int NH, int VMODE>
__device__ __forceinline__ void zero_accumulators(float (&acc_rot)[VMODE == 1 ? 1 : NH][8],
                                                  float (&acc_plain)[VMODE == 0 ? 1 : NH][8]) {
#pragma unroll
  for (int hh = 0; hh < NH; ++hh)
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if constexpr (VMODE != 1) acc_rot[hh][i] = 0.f;
      if constexpr (VMODE != 0) acc_plain[hh][i] = 0.f;
    }
}

// wraw[(t - t0w) * NH + hh] = s_t * sum_units LUT (coded keys) or q . k (fp16 keys).
template <int D, int NH>
__device__ __forceinline__ void score_tokens(const unsigned char* page, const TierConst& tc, bool coded,
                                             const float* lut_base, const float* q_plain, int t0w, int t1w,
                                             int lane, float* wraw) {
  using V = typename Vec<NH>::T;
  const int kq = lane % kLanesPerKey, gq = lane / kLanesPerKey;  // lane in token, token in step
  if constexpr (NH == 4) {
    if (coded && tc.nb == 6 && tc.upl == 8 && tc.wpt == 12) {  // the target tiers: 3-bit pairs, d = 128
      score_pairs6_d128(page, tc, lut_base, t0w, t1w, lane, wraw);
      return;
    }
  }
  if (coded) {
    const int wpt = tc.wpt, nb = tc.nb, upl = tc.upl, E = tc.E, emask = E - 1;
    const auto* rows = reinterpret_cast<const uint32_t*>(page + tc.key_codes);
    const auto* kscale = reinterpret_cast<const __half*>(page + tc.key_scales);
    const V* lut = reinterpret_cast<const V*>(lut_base) + kq;
    const int start = kq * upl * nb, w0 = start >> 5, sh = start & 31;
    for (int tb = t0w; tb < t1w; tb += 32 / kLanesPerKey) {
      const int t = tb + gq;
      V acc{};
      if (t < t1w) {
        const uint32_t* w = rows + size_t(t) * wpt;
        const uint32_t a0 = w[w0], a1 = w0 + 1 < wpt ? w[w0 + 1] : 0u, a2 = w0 + 2 < wpt ? w[w0 + 2] : 0u;
        uint64_t win = ((uint64_t(a1) << 32) | a0) >> sh;
        if (sh) win |= uint64_t(a2) << (64 - sh);
        if (nb == 6 && upl == 8) {  // the common tiers: 3-bit coordinate pairs, 6-bit planes, d=128
#pragma unroll
          for (int m = 0; m < 8; ++m) add<NH>(acc, lut[((m << 6) + int((win >> (6 * m)) & 63u)) * kLanesPerKey]);
        } else {
#pragma unroll 4
          for (int m = 0; m < upl; ++m)
            add<NH>(acc, lut[(m * E + int((win >> (nb * m)) & uint64_t(emask))) * kLanesPerKey]);
        }
      }
      if constexpr (NH == 4) {
        const float r1 = reduce_key_lanes4(acc, kq);
        if (kq < 4 && t < t1w) wraw[(t - t0w) * 4 + 2 * (kq & 1) + (kq >> 1)] = __half2float(kscale[t]) * r1;
      } else {
        float r[NH];
#pragma unroll
        for (int hh = 0; hh < NH; ++hh) {
          r[hh] = get<NH>(acc, hh);
          r[hh] += __shfl_xor_sync(0xffffffffu, r[hh], 1);
          r[hh] += __shfl_xor_sync(0xffffffffu, r[hh], 2);
          r[hh] += __shfl_xor_sync(0xffffffffu, r[hh], 4);
        }
        if (kq == 0 && t < t1w) {
          const float sc = __half2float(kscale[t]);
#pragma unroll
          for (int hh = 0; hh < NH; ++hh) wraw[(t - t0w) * NH + hh] = sc * r[hh];
        }
      }
    }
  } else {  // fp16 keys: lane kq owns D/8 dims
    constexpr int DPL = D / kLanesPerKey;
    const auto* rows = reinterpret_cast<const __half*>(page + tc.key_codes);
    for (int tb = t0w; tb < t1w; tb += 32 / kLanesPerKey) {
      const int t = tb + gq;
      float r[NH];
#pragma unroll
      for (int hh = 0; hh < NH; ++hh) r[hh] = 0.f;
      if (t < t1w) {
#pragma unroll
        for (int c = 0; c < DPL / 8; ++c) {
          const uint4 raw16 = *reinterpret_cast<const uint4*>(rows + size_t(t) * D + kq * DPL + c * 8);
          const __half2* h2 = reinterpret_cast<const __half2*>(&raw16);
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float2 kv2 = __half22float2(h2[e]);
            const int dim = kq * DPL + c * 8 + 2 * e;
            const V qa = reinterpret_cast<const V*>(q_plain)[qidx(dim)];
            const V qb = reinterpret_cast<const V*>(q_plain)[qidx(dim) + 1];
#pragma unroll
            for (int hh = 0; hh < NH; ++hh) r[hh] += get<NH>(qa, hh) * kv2.x + get<NH>(qb, hh) * kv2.y;
          }
        }
      }
#pragma unroll
      for (int hh = 0; hh < NH; ++hh) {
        r[hh] += __shfl_xor_sync(0xffffffffu, r[hh], 1);
        r[hh] += __shfl_xor_sync(0xffffffffu, r[hh], 2);
        r[hh] += __shfl_xor_sync(0xffffffffu, r[hh], 4);
      }
      if (kq == 0 && t < t1w)
#pragma unroll
        for (int hh = 0; hh < NH; ++hh) wraw[(t - t0w) * NH + hh] = r[hh];
    }
  }
}

// Online softmax over the warp's tokens: element e = (token e / NH, head e % NH). qm is q.m_p of
// head lane % NH. Writes weights (times the value scale for coded values) and alpha per head.
template <int NH>
__device__ __forceinline__ void softmax_tokens(const unsigned char* page, const TierConst& tc, float qm,
                                               float scale_log2, int t0w, int t1w, int lane, const float* wraw,
                                               float* wwt, float& m_run, float& l_run, float* walpha) {
  const int n_el = (t1w - t0w) * NH;
  float mx = -INFINITY;
  for (int e = lane; e < n_el; e += 32) mx = fmaxf(mx, (wraw[e] + qm) * scale_log2);
#pragma unroll
  for (int o = NH; o < 32; o <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const float m_new = fmaxf(m_run, mx);
  const bool vcoded = tc.vcoded;
  const auto* vscale = reinterpret_cast<const __half*>(page + tc.value_scales);
  float sum = 0.f;
  for (int e = lane; e < n_el; e += 32) {
    const float pj = exp2f((wraw[e] + qm) * scale_log2 - m_new);
    sum += pj;
    wwt[e] = vcoded ? pj * __half2float(vscale[t0w + e / NH]) : pj;
  }
#pragma unroll
  for (int o = NH; o < 32; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float alpha = m_run == -INFINITY ? 0.f : exp2f(m_run - m_new);
  m_run = m_new;
  l_run = l_run * alpha + sum;
  if (lane < NH) walpha[lane] = alpha;
}

// acc = alpha * acc + sum_t w_t * v_t (coded: in the rotated domain). The rescale is skipped when
// no head's running max moved (alpha == 1 for all heads: the common case).
// 4-bit values read their level from a 16-entry table (LDS.32: lanes hitting the same entry are
// broadcast, so no bank conflicts). A 256-entry float2 pair table (one PRMT + LDS.64 for two
// coordinates) was tried in v5: fewer instructions, but random entries over all banks conflict,
// and it measured equal or slower (docs/KERNELS.md).
template <int D, int NH, int VMODE>
__device__ __forceinline__ void accumulate_values(const unsigned char* page, const TierConst& tc, const float* vlev,
                                                  int t0w, int t1w, int lane, const float* wwt, const float* walpha,
                                                  float (&acc_rot)[VMODE == 1 ? 1 : NH][8],
                                                  float (&acc_plain)[VMODE == 0 ? 1 : NH][8]) {
  using V = typename Vec<NH>::T;
  constexpr int LV = D / 8, TPW = 32 / LV;  // lane owns 8 dims of one token slot; LV lanes a token
  const int vk = lane % LV;
  if (__any_sync(0xffffffffu, walpha[lane % NH] != 1.f)) {
    const V av = *reinterpret_cast<const V*>(walpha);
#pragma unroll
    for (int hh = 0; hh < NH; ++hh)
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        if constexpr (VMODE != 1) acc_rot[hh][e] *= get<NH>(av, hh);
        if constexpr (VMODE != 0) acc_plain[hh][e] *= get<NH>(av, hh);
      }
  }
  if constexpr (VMODE != 1) {
    if (tc.vcoded) {
      const int bv = tc.bv, vwpt = tc.vwpt, vmask = (1 << bv) - 1;
      const int start = vk * 8 * bv, w0 = start >> 5, sh = start & 31;
      const auto* rows = reinterpret_cast<const uint32_t*>(page + tc.values);
      if (bv == 4) {  // 8 dims of 4 bits = one word per lane and token; compile-time shifts
        for (int t = t0w + lane / LV; t < t1w; t += TPW) {
          const uint32_t wd = rows[size_t(t) * vwpt + vk];
          const V wt = reinterpret_cast<const V*>(wwt)[t - t0w];
#pragma unroll
          for (int e = 0; e < 8; ++e) {
            const float v = vlev[(wd >> (4 * e)) & 15u];
#pragma unroll
            for (int hh = 0; hh < NH; ++hh) acc_rot[hh][e] += get<NH>(wt, hh) * v;
          }
        }
      } else {
        for (int t = t0w + lane / LV; t < t1w; t += TPW) {
          const uint32_t* w = rows + size_t(t) * vwpt;
          const uint64_t win = ((w0 + 1 < vwpt ? uint64_t(w[w0 + 1]) << 32 : 0ull) | w[w0]) >> sh;
          const V wt = reinterpret_cast<const V*>(wwt)[t - t0w];
#pragma unroll
          for (int e = 0; e < 8; ++e) {
            const float v = vlev[int(win >> (bv * e)) & vmask];
#pragma unroll
            for (int hh = 0; hh < NH; ++hh) acc_rot[hh][e] += get<NH>(wt, hh) * v;
          }
        }
      }
    }
  }
  if constexpr (VMODE != 0) {
    if (!tc.vcoded) {
      const auto* rows = reinterpret_cast<const __half*>(page + tc.values);
      for (int t = t0w + lane / LV; t < t1w; t += TPW) {
        const uint4 raw16 = *reinterpret_cast<const uint4*>(rows + size_t(t) * D + vk * 8);
        const __half2* h2 = reinterpret_cast<const __half2*>(&raw16);
        const V wt = reinterpret_cast<const V*>(wwt)[t - t0w];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 v2 = __half22float2(h2[e]);
#pragma unroll
          for (int hh = 0; hh < NH; ++hh) {
            acc_plain[hh][2 * e] += get<NH>(wt, hh) * v2.x;
            acc_plain[hh][2 * e + 1] += get<NH>(wt, hh) * v2.y;
          }
        }
      }
    }
  }
}

// Combine the CTA's warps (each has its own m, l and accumulators), reduce the token slots and
// write this split's partial (m, l, acc). state: [4][kWarps][4] floats; scratch: >= kWarps*NH*D.
template <int D, int NH, int VMODE, int THREADS = kThreads>
__device__ __forceinline__ void write_partial(const DecodeParams& p, float* state, float* scratch,
                                              float (&acc_rot)[VMODE == 1 ? 1 : NH][8],
                                              float (&acc_plain)[VMODE == 0 ? 1 : NH][8], float m_run, float l_run,
                                              int b, int h, int chunk, int split) {
  constexpr int kWarps = THREADS / 32, LV = D / 8;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, vk = lane % LV;
  float* wm = state + 2 * kWarps * 4;  // [kWarps][4]
  float* wl = state + 3 * kWarps * 4;
  if (lane < NH) { wm[warp * 4 + lane] = m_run; wl[warp * 4 + lane] = l_run; }
  __syncthreads();
  float factor[NH];
#pragma unroll
  for (int hh = 0; hh < NH; ++hh) {
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wm[w * 4 + hh]);
    const float mw = wm[warp * 4 + hh];
    factor[hh] = mw == -INFINITY ? 0.f : exp2f(mw - M);
  }
  const size_t row0 = size_t(split) * size_t(p.kv.batch) * p.num_q_heads;
  auto reduce_write = [&](float (*acc)[8], float* dst_base) {
#pragma unroll
    for (int hh = 0; hh < NH; ++hh)
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        acc[hh][e] *= factor[hh];
        for (int o = LV; o < 32; o <<= 1) acc[hh][e] += __shfl_xor_sync(0xffffffffu, acc[hh][e], o);
      }
    if (lane < LV)
#pragma unroll
      for (int hh = 0; hh < NH; ++hh)
#pragma unroll
        for (int e = 0; e < 8; ++e) scratch[(warp * NH + hh) * D + vk * 8 + e] = acc[hh][e];
    __syncthreads();
    for (int i = tid; i < NH * D; i += THREADS) {
      const int hh = i / D, dim = i % D, g = chunk * NH + hh;
      float s = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) s += scratch[(w * NH + hh) * D + dim];
      if (g < p.group) dst_base[(row0 + size_t(b) * p.num_q_heads + h * p.group + g) * D + dim] = s;
    }
    __syncthreads();
  };
  if constexpr (VMODE != 1) reduce_write(acc_rot, p.part_rot);
  if constexpr (VMODE != 0) reduce_write(acc_plain, p.part_plain);
  if (tid < NH) {
    const int g = chunk * NH + tid;
    if (g < p.group) {
      float M = -INFINITY, Lsum = 0.f;
      for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wm[w * 4 + tid]);
      if (M != -INFINITY)
        for (int w = 0; w < kWarps; ++w)
          if (wm[w * 4 + tid] != -INFINITY) Lsum += wl[w * 4 + tid] * exp2f(wm[w * 4 + tid] - M);
      const size_t r = row0 + size_t(b) * p.num_q_heads + h * p.group + g;
      p.part_m[r] = M;
      p.part_l[r] = Lsum;
    }
  }
}

// Queries of this chunk's heads into q_plain (padded rows) and q_rot = signs * q, then q_rot =
// Pi q with Walsh-Hadamard butterflies in shared memory (skipped for the dense kernel).
template <int D, int NH, bool ROTATE, int THREADS = kThreads>
__device__ __forceinline__ void stage_query(const DecodeParams& p, int b, int h, int chunk, const int8_t* signs,
                                            float* q_plain, float* q_rot) {
  const int tid = threadIdx.x;
  for (int i = tid; i < D * NH; i += THREADS) {
    const int dim = i / NH, hh = i % NH, g = chunk * NH + hh;
    const float v = g < p.group ? p.q[(size_t(b) * p.num_q_heads + h * p.group + g) * D + dim] : 0.f;
    q_plain[qidx(dim) * NH + hh] = v;
    q_rot[i] = v * float(signs[dim]);
  }
  __syncthreads();
  if constexpr (ROTATE) {
    for (int hstep = 1; hstep < D; hstep *= 2) {
      for (int i = tid; i < (D / 2) * NH; i += THREADS) {
        const int hh = i % NH, pr = i / NH, blk = pr / hstep, off = pr % hstep;
        const int i0 = blk * 2 * hstep + off, i1 = i0 + hstep;
        const float a = q_rot[i0 * NH + hh], c = q_rot[i1 * NH + hh];
        q_rot[i0 * NH + hh] = a + c;
        q_rot[i1 * NH + hh] = a - c;
      }
      __syncthreads();
    }
    for (int i = tid; i < D * NH; i += THREADS) q_rot[i] *= rsqrtf(float(D));
  }
}

// The LUT of one coded tier for the chunk's NH heads (see LutShape), all threads of the CTA.
template <int NH, int THREADS = kThreads>
__device__ __forceinline__ void build_lut(const TierLayout& L, const float* klev, const float* q_rot, float* out) {
  using V = typename Vec<NH>::T;
  const LutShape s = lut_shape(L);
  const int a = L.key_bits, amask = (1 << a) - 1, bmask = (1 << key_code_bits(L)) - 1;
  V* lut = reinterpret_cast<V*>(out);
  for (int e = threadIdx.x; e < s.U * s.E; e += THREADS) {
    const int k = e % kLanesPerKey, rest = e / kLanesPerKey, code = rest % s.E, m = rest / s.E;
    const int u = k * s.upl + m;
    float vals[NH];
#pragma unroll
    for (int hh = 0; hh < NH; ++hh) {
      if (L.key_kind == KeyKind::kCoord) {
        if (s.J == 2) {
          vals[hh] = q_rot[(2 * u) * NH + hh] * klev[code & bmask] +
                     q_rot[(2 * u + 1) * NH + hh] * klev[code >> key_code_bits(L)];
        } else {
          vals[hh] = q_rot[u * NH + hh] * klev[code];
        }
      } else {
        float sn, cs;
        sincospif(2.f * (float(code & amask) + 0.5f) / float(1 << a), &sn, &cs);
        vals[hh] = klev[code >> a] * (q_rot[(2 * u) * NH + hh] * cs + q_rot[(2 * u + 1) * NH + hh] * sn);
      }
    }
    const int idx = (m * s.E + code) * kLanesPerKey + k;
    if constexpr (NH == 1) lut[idx] = vals[0];
    else if constexpr (NH == 2) lut[idx] = make_float2(vals[0], vals[1]);
    else lut[idx] = make_float4(vals[0], vals[1], vals[2], vals[3]);
  }
}

// Raw fp16 page-mean dims of one lane (D / 32 halves), loaded from global memory early and
// consumed later by q_dot_mean.
template <int D> using MeanWord = typename std::conditional<D / 32 == 4, uint2, uint32_t>::type;

// q . m_p for NH heads from the lane's page-mean dims, reduced over the warp; every lane returns
// the value of head lane % NH.
template <int D, int NH>
__device__ __forceinline__ float q_dot_mean(const MeanWord<D>& raw, const float* q_plain, int lane) {
  using V = typename Vec<NH>::T;
  constexpr int MPL = D / 32;
  const __half* mean = reinterpret_cast<const __half*>(&raw);
  float qm[NH];
#pragma unroll
  for (int hh = 0; hh < NH; ++hh) qm[hh] = 0.f;
#pragma unroll
  for (int e = 0; e < MPL; ++e) {
    const float mv = __half2float(mean[e]);
    const V qv = reinterpret_cast<const V*>(q_plain)[qidx(lane * MPL + e)];
#pragma unroll
    for (int hh = 0; hh < NH; ++hh) qm[hh] += get<NH>(qv, hh) * mv;
  }
  float mine = 0.f;
#pragma unroll
  for (int hh = 0; hh < NH; ++hh) {
#pragma unroll
    for (int o = 16; o; o >>= 1) qm[hh] += __shfl_xor_sync(0xffffffffu, qm[hh], o);
    mine = lane % NH == hh ? qm[hh] : mine;
  }
  return mine;
}

// ---- v6: 3-bit COORD keys scored on the integer tensor cores (kernels/ada_bitplane.h) -----------
// A tier the tensor cores can score: COORD keys of 3 bits (the bit-plane algebra is for 8 levels).
__host__ __device__ inline bool bitplane_tier(const TierLayout& L) {
  return L.key_kind == KeyKind::kCoord && L.key_bits == 3;
}

__device__ __forceinline__ uint4 lds128u(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
  return v;
}

// D[16x8] += A[16x32] (u8, row) * B[32x8] (s8, col), s32 accumulate (exact): sm_80+.
__device__ __forceinline__ void mma_u8s8(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// The tier's B table (ada_bitplane.h) in `region`: a 64-byte header (float cst[4] = C * sum_i q'_h,i,
// float inv_scale[4] = 2^-E_h, int E[4], int general) then mma_steps x 32 lanes x 16 bytes. Every
// thread of the CTA must call it. Warp 0 derives the Walsh coefficients once (into klev_t[16 + S],
// so klev_t holds 24 floats) and the header; then one thread
// per (step, lane, bit position s) computes the 4 coefficients of its K rows once, in float and
// int32 (|x| < 2^29: exact integers in float), and writes both of their digit pairs. (v6's build,
// a double and int64 digit loop per word in every thread, took several µs of v7's 78 µs.)
template <int D, int NH, int THREADS>
__device__ __forceinline__ void build_key_table(float* klev_t, const float* q_rot, float* region) {
  namespace bp = bitplane;
  const int tid = threadIdx.x, lane = tid & 31;
  int* ihdr = reinterpret_cast<int*>(region);
  if (tid < 32) {
    const double mine = bp::walsh3_one(klev_t, lane & 7);  // lane S < 8: beta_S
    double beta[8];
#pragma unroll
    for (int S = 0; S < 8; ++S) beta[S] = __shfl_sync(0xffffffffu, mine, S);
    const bp::Coefficients k = bp::coefficients_from_beta(klev_t, beta);
    if (lane < 8) klev_t[16 + lane] = k.kappa[lane];
    float kmax = 0.f;
#pragma unroll
    for (int S = 1; S < 8; ++S) kmax = fmaxf(kmax, fabsf(k.kappa[S]));
    // the heads' max |q'| and sum q' side by side (independent loads and shuffles, no chain per head)
    float qmax[4] = {}, qsum[4] = {};
#pragma unroll
    for (int i = lane; i < D; i += 32)
#pragma unroll
      for (int h = 0; h < NH; ++h) {
        const float v = q_rot[i * NH + h];
        qmax[h] = fmaxf(qmax[h], fabsf(v));
        qsum[h] += v;
      }
#pragma unroll
    for (int o = 16; o; o >>= 1)
#pragma unroll
      for (int h = 0; h < NH; ++h) {
        qmax[h] = fmaxf(qmax[h], __shfl_xor_sync(0xffffffffu, qmax[h], o));
        qsum[h] += __shfl_xor_sync(0xffffffffu, qsum[h], o);
      }
    if (lane < 4) {
      float m = qmax[0], sm = qsum[0];  // lane h writes head h (zeros past NH)
#pragma unroll
      for (int h = 1; h < 4; ++h)
        if (lane == h) { m = qmax[h]; sm = qsum[h]; }
      const int E = bp::head_exponent(kmax * m);
      region[lane] = k.constant * sm;
      region[4 + lane] = ldexpf(1.f, -E);
      ihdr[8 + lane] = E;
    }
    if (lane == 0) ihdr[12] = k.general ? 1 : 0;
  }
  __syncthreads();
  const int steps = bp::mma_steps(D, ihdr[12] != 0);
  auto* tab = reinterpret_cast<uint32_t*>(reinterpret_cast<unsigned char*>(region) + bp::kHeaderBytes);
  // One item per (step, bit position s, lane quarter tig, head): its 4 K rows' coefficients, written
  // as the digit pairs of the head's two B columns (n = 2 head: digits 0, 2; n = 2 head + 1: 1, 3).
  for (int item = tid; item < steps * 2 * 4 * NH; item += THREADS) {
    const int head = item % NH, tig = (item / NH) & 3, sb = (item / (4 * NH)) & 1, step = item / (8 * NH);
    const int w = step >> 2, s = 2 * (step & 3) + sb, E = ihdr[8 + head];
    // 2^(E - s) as a float when it is a normal number (then x * p2 is ldexpf(x, E - s) exactly)
    const float p2 = (E - s >= -126 && E - s <= 127) ? __int_as_float((E - s + 127) << 23) : 0.f;
    uint32_t d0w = 0, d1w = 0, d2w = 0, d3w = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      int dim = 0;
      const int S = bp::plane_of(D, w, 8 * j + s, &dim);
      const float kap = S ? klev_t[16 + S] : 0.f;
      const float kq = kap * q_rot[(tig * (D / 4) + dim) * NH + head];
      const int x = kap == 0.f ? 0 : __float2int_rn(p2 != 0.f ? kq * p2 : ldexpf(kq, E - s));
      const int d0 = int(int8_t(x & 255)), x1 = (x - d0) >> 8;
      const int d1 = int(int8_t(x1 & 255)), x2 = (x1 - d1) >> 8;
      const int d2 = int(int8_t(x2 & 255)), x3 = (x2 - d2) >> 8;
      const int d3 = int(int8_t(x3 & 255));
      d0w |= uint32_t(uint8_t(d0)) << (8 * j);
      d1w |= uint32_t(uint8_t(d1)) << (8 * j);
      d2w |= uint32_t(uint8_t(d2)) << (8 * j);
      d3w |= uint32_t(uint8_t(d3)) << (8 * j);
    }
    const int ln0 = (2 * head) * 4 + tig, ln1 = ln0 + 4;
    tab[(step * 32 + ln0) * 4 + sb] = d0w;
    tab[(step * 32 + ln0) * 4 + 2 + sb] = d2w;
    tab[(step * 32 + ln1) * 4 + sb] = d1w;
    tab[(step * 32 + ln1) * 4 + 2 + sb] = d3w;
  }
  // Lanes of heads >= NH (n >= 2 NH) get zero words.
  for (int e = tid; e < steps * 32 * 4; e += THREADS)
    if (((e >> 2) & 31) >= 8 * NH) tab[e] = 0u;
}

// Logits of tokens [0, ntok) of a staged 3-bit COORD page on the tensor cores: 16-token tiles,
// lane (g = lane / 4, tig = lane % 4) builds the plane words of tokens g and g + 8 of a tile from
// its D/4 dims' code bits; per step one LDS.128 of B, 4 LOP and 2 MMA per tile. The symmetric
// (4-plane) case runs two tiles per B load (half the B-table reads); the general case one.
// wraw[t * NH + h] as score_tokens writes it.
template <int D, int NH, bool GENERAL>
__device__ __forceinline__ void score_bitplane(const unsigned char* page, const TierConst& tc, const float* region,
                                               int ntok, int lane, float* wraw) {
  namespace bp = bitplane;
  constexpr int NWORDS = bp::plane_words(D, GENERAL), WPT = 3 * D / 32, TILES = GENERAL ? 1 : 2;
  const int g = lane >> 2, tig = lane & 3;
  const auto* rows = reinterpret_cast<const uint32_t*>(page + tc.key_codes);
  const auto* kscale = reinterpret_cast<const __half*>(page + tc.key_scales);
  const float cst = region[tig], inv = region[4 + tig];
  const uint32_t tab = static_cast<uint32_t>(__cvta_generic_to_shared(region)) + bp::kHeaderBytes + uint32_t(lane) * 16u;
  // Token slots up to t0 + 16 TILES - 1 exist (P is a multiple of 32); those >= ntok are not stored.
  for (int t0 = 0; t0 < ntok; t0 += 16 * TILES) {
    uint32_t w[2 * TILES][NWORDS];  // row r: token t0 + 8 r + g (tile r / 2, rows g and g + 8)
#pragma unroll
    for (int r = 0; r < 2 * TILES; ++r) bp::lane_plane_words<D, GENERAL>(rows + (t0 + 8 * r + g) * WPT, tig, w[r]);
    int lo[TILES][4], hi[TILES][4];  // digits 0, 1 and digits 2, 3
#pragma unroll
    for (int i = 0; i < TILES; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) lo[i][e] = hi[i][e] = 0;
#pragma unroll
    for (int v = 0; v < NWORDS; ++v)
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const uint4 b = lds128u(tab + uint32_t(4 * v + u) * 512u);
        const uint32_t m0 = 0x01010101u << (2 * u), m1 = m0 << 1;
#pragma unroll
        for (int i = 0; i < TILES; ++i) {
          const uint32_t a0 = w[2 * i][v] & m0, a1 = w[2 * i + 1][v] & m0, a2 = w[2 * i][v] & m1,
                         a3 = w[2 * i + 1][v] & m1;
          mma_u8s8(lo[i], a0, a1, a2, a3, b.x, b.y);
          mma_u8s8(hi[i], a0, a1, a2, a3, b.z, b.w);
        }
      }
    if (tig < NH) {
#pragma unroll
      for (int i = 0; i < TILES; ++i) {
        const int ta = t0 + 16 * i + g, tb = ta + 8;
        const float xa = (float(lo[i][0]) + float(lo[i][1]) * 256.f) + (float(hi[i][0]) * 65536.f + float(hi[i][1]) * 16777216.f);
        const float xb = (float(lo[i][2]) + float(lo[i][3]) * 256.f) + (float(hi[i][2]) * 65536.f + float(hi[i][3]) * 16777216.f);
        if (ta < ntok) wraw[ta * NH + tig] = __half2float(kscale[ta]) * fmaf(xa, inv, cst);
        if (tb < ntok) wraw[tb * NH + tig] = __half2float(kscale[tb]) * fmaf(xb, inv, cst);
      }
    }
  }
}

// Opt in to the device's full shared memory once per kernel, then launch.
template <auto Kernel, int THREADS>
void launch_kernel(const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t stream, const char* what) {
  static std::once_flag once;  // one flag per kernel: Kernel is a template argument
  std::call_once(once, [] {
    int dev = 0, optin = 0;
    SKV_CUDA_CHECK(cudaGetDevice(&dev));
    SKV_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    SKV_CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
  });
  Kernel<<<grid, THREADS, smem, stream>>>(prm);
  (void)what;
  SKV_CUDA_CHECK_LAUNCH(what);
}

// Launch one split kernel (v4: D 64/128, NH 1/2/4, dense or coded, VMODE 0/1/2) or one v5 kernel.
void launch_decode_split(int d, int nh, bool dense, int vmode, const DecodeParams& prm, dim3 grid, size_t smem,
                         cudaStream_t stream);
// mma = true: the v6 kernel (3-bit COORD tiers scored on the tensor cores, the rest as v5).
void launch_decode_wpp(int d, int nh, int vmode, bool mma, const DecodeParams& prm, dim3 grid, size_t smem,
                       cudaStream_t stream);
// v7 (ada_decode_mma.cu): keys and values on the tensor cores; every tier must be an mma_tier.
bool mma_tier(const TierLayout& L);
void launch_decode_mma(int d, int nh, bool sym, const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t stream);

}  // namespace skv::kernels::ada_detail
