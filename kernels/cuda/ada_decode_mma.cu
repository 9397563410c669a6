// ADA paged decode, v7: both products of a page on the tensor cores (docs/KERNELS.md "v7 round").
// Runs when every tier of the table is a 3-bit COORD key / 4-bit COORD value tier of 64-token
// pages (the target tier); ada_decode.cu picks it, v5/v6 run everything else.
//
// Per warp and page (v5's warp-per-page skeleton, 16 warps, one page buffer per warp, filled by
// TMA bulk copies on sm_90 and cp.async on sm_80):
//   scores  S[64 tokens x 4 heads] on the integer tensor cores straight from the key code bits
//           (v6's bit-plane algebra, kernels/ada_bitplane.h; exact int32 sums, no LUT, no dense
//           keys); they stay in registers: lane (g, t) holds head t's logits of tokens 16 j + g and
//           16 j + g + 8 of every 16-token tile j.
//   softmax per head over the page in registers (max: 3 shuffles; sums stay per lane).
//   values  O[d x 4 heads] += V^T[d x 64] W[64 x 4 heads] with mma.m16n8k16 f16 -> f32: A = the
//           value levels of the codes, looked up with byte permutes (PRMT) from a 16-entry fp16
//           table held as byte planes in 8 registers, two tokens per half2 (kernels/ada_value_table.h;
//           a symmetric codebook, as the codecs build, takes a shorter lookup); B = the weights p s_v split into
//           fp16 hi + lo columns (8 columns = 4 heads x {hi, lo}), so the weights carry ~22 bits.
//           The accumulator of lane (g, t) is head t's only: the rescale by alpha is per lane.
// Value levels are rounded to fp16 for the tensor cores (2^-11 relative per level at most, the
// precision of an fp16 value cache; everything else is float or exact).
#include <algorithm>
#include <type_traits>
#include <cstdio>
#include <vector>

#include "kernels/ada_value_table.h"
#include "kernels/cuda/ada_decode_blocks.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/warp_hadamard.cuh"

namespace skv::kernels::ada_detail {
namespace {

constexpr int kMmaPageTokens = 64;
constexpr int kTiles = kMmaPageTokens / 16;

// D[16x8] += A[16x16] (f16, row) * B[16x8] (f16, col), f32 accumulate.
__device__ __forceinline__ void mma_f16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                        uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

using value_table::ValueTable;
using value_table::value_pairs;

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const uint32_t*>(&h);
}
// The fp16 part of w a B column holds: hi = fp16(w), lo = fp16(w - hi).
__device__ __forceinline__ float weight_part(float w, bool lo) {
  const float hi = __half2float(__float2half_rn(w));
  return lo ? w - hi : hi;
}

// x[j][0 / 1]: exact bit-plane sums of tokens 16 j + g and 16 j + g + 8 for head tig (ada_bitplane.h),
// before the scale and constant. The symmetric codebook runs two tiles per B load.
template <int D, bool GENERAL>
__device__ __forceinline__ void score_page(const uint32_t* rows, const float* region, int lane, float (&x)[kTiles][2]) {
  namespace bp = bitplane;
  constexpr int NWORDS = bp::plane_words(D, GENERAL), WPT = 3 * D / 32, TILES = GENERAL ? 1 : 2;
  const int g = lane >> 2, tig = lane & 3;
  const uint32_t tab = static_cast<uint32_t>(__cvta_generic_to_shared(region)) + bp::kHeaderBytes + uint32_t(lane) * 16u;
#pragma unroll 1  // unrolled, the chunks' live ranges overlap and spill (146-880 bytes at 128 registers)
  for (int c = 0; c < kTiles / TILES; ++c) {
    const int t0 = 16 * TILES * c;
    uint32_t w[2 * TILES][NWORDS];
#pragma unroll
    for (int r = 0; r < 2 * TILES; ++r) bp::lane_plane_words<D, GENERAL>(rows + (t0 + 8 * r + g) * WPT, tig, w[r]);
    int lo[TILES][4], hi[TILES][4];
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
#pragma unroll
    for (int i = 0; i < TILES; ++i) {
      const float r0 = (float(lo[i][0]) + float(lo[i][1]) * 256.f) + (float(hi[i][0]) * 65536.f + float(hi[i][1]) * 16777216.f);
      const float r1 = (float(lo[i][2]) + float(lo[i][3]) * 256.f) + (float(hi[i][2]) * 65536.f + float(hi[i][3]) * 16777216.f);
#pragma unroll
      for (int cc = 0; cc < kTiles / TILES; ++cc)  // constant indices: x stays in registers, not local memory
        if (cc == c) { x[cc * TILES + i][0] = r0; x[cc * TILES + i][1] = r1; }
    }
  }
}

// acc[i] += V^T W over one 16-token tile kt of the staged values: lane (g, t) owns dims
// g D/8 .. g D/8 + D/8 - 1 (value words D/64 g ...), M tile i rows g / g + 8 = dims
// g D/8 + i / g D/8 + D/16 + i; tokens 2t, 2t+1 (A cols 2t..) and 2t+8, 2t+9.
template <int D, bool SYM>
__device__ __forceinline__ void accumulate_tile(const uint32_t* vrows, int kt, int lane, const ValueTable& T,
                                                uint32_t b0, uint32_t b1, float (&acc)[D / 16][4]) {
  constexpr int VW = D / 8;  // value words per token (4 bits x D)
  const int g = lane >> 2, t = lane & 3;
  const int ta = 16 * kt + 2 * t, tb = ta + 8;
  if constexpr (D == 128) {
    const uint2 a0 = *reinterpret_cast<const uint2*>(vrows + ta * VW + 2 * g);
    const uint2 a1 = *reinterpret_cast<const uint2*>(vrows + (ta + 1) * VW + 2 * g);
    const uint2 c0 = *reinterpret_cast<const uint2*>(vrows + tb * VW + 2 * g);
    const uint2 c1 = *reinterpret_cast<const uint2*>(vrows + (tb + 1) * VW + 2 * g);
    // word 2g (dims 16 g + n, rows g) and word 2g + 1 (dims 16 g + 8 + n, rows g + 8): M tile n.
    uint32_t r0[4], r1[4], r2[4], r3[4];
    value_pairs<0, SYM>(a0.x, a1.x, T, r0);
    value_pairs<0, SYM>(a0.y, a1.y, T, r1);
    value_pairs<0, SYM>(c0.x, c1.x, T, r2);
    value_pairs<0, SYM>(c0.y, c1.y, T, r3);
#pragma unroll
    for (int j = 0; j < 4; ++j) mma_f16(acc[j], r0[j], r1[j], r2[j], r3[j], b0, b1);
    value_pairs<1, SYM>(a0.x, a1.x, T, r0);
    value_pairs<1, SYM>(a0.y, a1.y, T, r1);
    value_pairs<1, SYM>(c0.x, c1.x, T, r2);
    value_pairs<1, SYM>(c0.y, c1.y, T, r3);
#pragma unroll
    for (int j = 0; j < 4; ++j) mma_f16(acc[4 + j], r0[j], r1[j], r2[j], r3[j], b0, b1);
  } else {
    // D = 64: word g holds dims 8 g + n; nibbles 0-3 are rows g of M tiles 0-3, nibbles 4-7 rows g + 8.
    const uint32_t a0 = vrows[ta * VW + g], a1 = vrows[(ta + 1) * VW + g];
    const uint32_t c0 = vrows[tb * VW + g], c1 = vrows[(tb + 1) * VW + g];
    uint32_t r0[4], r1[4], r2[4], r3[4];
    value_pairs<0, SYM>(a0, a1, T, r0);
    value_pairs<1, SYM>(a0, a1, T, r1);
    value_pairs<0, SYM>(c0, c1, T, r2);
    value_pairs<1, SYM>(c0, c1, T, r3);
#pragma unroll
    for (int j = 0; j < 4; ++j) mma_f16(acc[j], r0[j], r1[j], r2[j], r3[j], b0, b1);
  }
}


// Page copies. sm_90: one TMA bulk copy per array (keys, values) issued by lane 0, completion on a
// per-warp mbarrier: the warp never blocks on issuing (~15 cp.async per lane and their loop did,
// for several µs at the start when every warp's first page is requested at once). sm_80: cp.async.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define SKV_V7_TMA 1
#endif
#if defined(SKV_V7_TMA)
// One TMA bulk copy of `bytes` (a multiple of 16, both addresses 16-byte aligned) into shared
// address dst, completing on the mbarrier at shared address bar, with L2 cache policy `policy`.
__device__ __forceinline__ void tma_copy(uint32_t bar, uint32_t dst, const void* src, int bytes, uint64_t policy) {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;"
      ::"r"(dst), "l"(src), "r"(bytes), "r"(bar), "l"(policy) : "memory");
}
#endif
// The pages stream through L2 with an evict-first policy: read once per call, they would otherwise
// push out what the next calls reuse (the page tables, whose three dependent loads start every
// CTA, the queries, the partials).
struct PageCopier {
  uint32_t mbar;   // shared address of 2 mbarriers (keys, values)
  uint32_t phase;  // bit 0: keys' parity, bit 1: values'
  uint64_t policy; // L2 evict-first cache policy of the page copies
  __device__ __forceinline__ void init(void* bars, int lane) {
    mbar = static_cast<uint32_t>(__cvta_generic_to_shared(bars));
    phase = 0;
    policy = 0;
#if defined(SKV_V7_TMA)
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    if (lane == 0) {
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(mbar));
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(mbar + 8));
      asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncwarp();
#else
    (void)lane;
#endif
  }
  // which = 0 keys, 1 values; bytes a multiple of 16, both addresses 16-byte aligned.
  __device__ __forceinline__ void issue(int which, void* dst, const void* src, int bytes, int lane) {
#if defined(SKV_V7_TMA)
    __syncwarp();  // every lane is done reading the buffer's previous contents
    if (lane == 0) tma_copy(mbar + 8 * which, static_cast<uint32_t>(__cvta_generic_to_shared(dst)), src, bytes, policy);
#else
    for (int q = lane; q < bytes / 16; q += 32)
      cp_async16(static_cast<unsigned char*>(dst) + q * 16, static_cast<const unsigned char*>(src) + q * 16);
    cp_async_commit();
    (void)which;
#endif
  }
  // Waits for the copy `which` issued last (keys: the groups outstanding are this page's keys then
  // its values; values: this page's values then the next page's keys).
  __device__ __forceinline__ void wait(int which) {
#if defined(SKV_V7_TMA)
    const uint32_t bar = mbar + 8 * which, par = (phase >> which) & 1u;
    asm volatile(
        "{\n .reg .pred p;\n WAIT_%=:\n"
        " mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
        " @!p bra WAIT_%=;\n}\n" ::"r"(bar), "r"(par) : "memory");
    phase ^= 1u << which;
#else
    (void)which;
    cp_async_wait<1>();
#endif
    __syncwarp();
  }
  __device__ __forceinline__ void finish(int lane) {
#if defined(SKV_V7_TMA)
    __syncwarp();
    if (lane == 0) {
      asm volatile("mbarrier.inval.shared::cta.b64 [%0];" ::"r"(mbar) : "memory");
      asm volatile("mbarrier.inval.shared::cta.b64 [%0];" ::"r"(mbar + 8) : "memory");
    }
#else
    (void)lane;
    cp_async_wait<0>();
#endif
  }
};

// A page mean word, read with the page copies' L2 policy (sm_90; a plain load before).
__device__ __forceinline__ uint32_t load_evict_first(const uint32_t* p, uint64_t policy) {
#if defined(SKV_V7_TMA)
  uint32_t v;
  asm volatile("ld.global.nc.L2::cache_hint.u32 %0, [%1], %2;" : "=r"(v) : "l"(p), "l"(policy));
  return v;
#else
  (void)policy;
  return *p;
#endif
}
__device__ __forceinline__ uint2 load_evict_first(const uint2* p, uint64_t policy) {
#if defined(SKV_V7_TMA)
  uint2 v;
  asm volatile("ld.global.nc.L2::cache_hint.v2.u32 {%0, %1}, [%2], %3;" : "=r"(v.x), "=r"(v.y) : "l"(p), "l"(policy));
  return v;
#else
  (void)policy;
  return *p;
#endif
}

// Built with -DSKV_ADA_TRACE: lane 0 of warp 0 of every CTA stamps %globaltimer at 8 points (start,
// query and levels staged (the first barrier), B tables ready, first page landed, own pages done,
// all warps done, partial reduced, end) and the first chain thread at 3 more (8-10, below);
// ada_trace_dump() prints them relative to the first CTA's start (the last call; pass the call's
// CTA count: SKV_TRACE=<ctas> in the bench).
#if defined(SKV_ADA_TRACE)
__device__ unsigned long long skv_trace[64 * 4096];
__device__ __forceinline__ unsigned long long gtime() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
#define SKV_TRACE_POINT(i) \
  if (threadIdx.x == 0 && blockIdx.y * gridDim.x + blockIdx.x < 4096) skv_trace[(blockIdx.y * gridDim.x + blockIdx.x) * 64 + (i)] = gtime()
// Points 8-10: the first chain thread stamps once `dep` (indptr, the page's index, its page info) is
// there.
#define SKV_CHAIN_TRACE(i, dep) \
  if (ci == 0 && (dep) != -12345 && blockIdx.y * gridDim.x + blockIdx.x < 4096) skv_trace[(blockIdx.y * gridDim.x + blockIdx.x) * 64 + (i)] = gtime()
#else
#define SKV_TRACE_POINT(i) (void)0
#define SKV_CHAIN_TRACE(i, dep) (void)0
#endif
// Built with -DSKV_ADA_ABLATE=N, a diagnostic like SKV_ADA_TRACE (sm_90 only; the outputs are
// wrong by design): 1 copies only (each page's keys and values are waited for and one word of each
// consumed; no scoring, softmax or value products), 2 compute only (only the first page is copied;
// every page is computed from its buffers), 3 no key scoring (logits from a word of the staged
// keys), 4 no value products (a word of the staged values consumed). docs/KERNELS.md "Session 8"
// has what they measured.
#ifndef SKV_ADA_ABLATE
#define SKV_ADA_ABLATE 0
#endif
constexpr int kAblate = SKV_ADA_ABLATE;
// SYM: the build for tables whose every tier is symmetric (TierCodebooks::symmetric), without the
// general key planes and value lookup; it checks the claim and writes NaN where it is false.
template <int D, int NH, bool SYM>
__global__ void __launch_bounds__(kWppThreads, 1) decode_mma_kernel(const DecodeParams p) {
  SKV_TRACE_POINT(0);
  constexpr int kWarps = kWppThreads / 32, MPL = D / 32, MT = D / 16;
  extern __shared__ __align__(16) unsigned char smem[];
  const WppPlan& plan = p.wpp;
  // Only the tier constants are staged; the tier count is read from the parameters. (Thread 0
  // copying the whole TierTable, as v4-v6 stage it, held warp 0's query loads back by ~0.45 µs:
  // docs/KERNELS.md "Session 9".)
  const int ntiers = p.kv.tiers.count;
  auto* tcs = reinterpret_cast<TierConst*>(smem + plan.tconst);
  stage_tier_consts(p.kv, tcs, [&](TierConst& c, int t) {
    c.pad = plan.lut_off[t];
    c.mma = 1;
  });
  auto* pinfo = reinterpret_cast<PageInfo*>(smem + plan.pinfo);
  auto* q_plain = reinterpret_cast<float*>(smem + plan.q_plain);
  auto* q_rot = reinterpret_cast<float*>(smem + plan.q_rot);
  auto* klev = reinterpret_cast<float*>(smem + plan.klev);            // [tier][64]
  auto* vtab = reinterpret_cast<ValueTable*>(smem + plan.vlev);       // [tier]
  auto* tables = reinterpret_cast<float*>(smem + plan.luts);          // B tables of the tiers
  float* state = reinterpret_cast<float*>(smem + plan.state);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, tig = lane & 3;
  unsigned char* kstage = smem + plan.warps + size_t(warp) * plan.warp_bytes + plan.stage;
  unsigned char* vstage = kstage + plan.key_bytes;

  const int Hkv = p.kv.num_kv_heads;
  const int chunk = blockIdx.y % p.chunks, bh = blockIdx.y / p.chunks, b = bh / Hkv, h = bh % Hkv;
  const int split = blockIdx.x;
  const int list0 = p.kv.indptr[bh], list1 = p.kv.indptr[bh + 1];
  const int first = list0 + split * p.pages_per_split;
  const int npages = max(0, min(p.pages_per_split, list1 - first));
  const int nmine = npages > warp ? (npages - warp + kWarps - 1) / kWarps : 0;

  // Warp hh < NH stages query head hh: its loads are issued before the page-table chain's.
  constexpr int VPL = D / 32;  // dims per lane: lane * VPL ...
  float qv[VPL];
  int8_t sg[VPL];
  if (warp < NH) {
    const int gq = chunk * NH + warp;
#pragma unroll
    for (int e = 0; e < VPL; ++e) {
      const int dim = lane * VPL + e;
      qv[e] = gq < p.group ? p.q[(size_t(b) * p.num_q_heads + h * p.group + gq) * D + dim] : 0.f;
      sg[e] = p.kv.signs[size_t(h) * D + dim];
    }
  }
  // Thread 64 t + c holds key level c (c < 8) or value level c - 32 (32 <= c < 48) of tier t: loaded
  // now, before the pages' copies flood the memory system (issued after them, they queued ~2 µs).
  float lvl = 0.f;
#pragma unroll
  for (int t = 0; t < kMaxTiers; ++t)  // compile-time index into the parameter struct
    if (t < p.kv.tiers.count && (tid >> 6) == t) {
      const int c = tid & 63;
      if (c < 8) lvl = p.kv.tiers.codebooks[t].key_levels[c];
      else if (c >= 32 && c < 48) lvl = p.kv.tiers.codebooks[t].value_levels[c - 32];
    }
  // The page-table chain (indptr -> indices -> pages, three dependent loads) runs in warps 14-15,
  // overlapped with the query's rotation and the B tables: chain thread c loads pages c and c + 64's
  // indices now, their page infos after the first barrier, requests the first pages' keys itself
  // (sm_90: TMA into warp c's buffer on warp c's mbarrier, initialised before that barrier) and
  // stages the infos for the warps' later pages. (Before, the whole CTA waited for the chain, then
  // for the rotation and the B tables: keys requested at 2.5 us, the B tables ready at 4.8.)
  static_assert(kMaxPagesPerSplit <= 128, "two pages a chain thread");
  constexpr int kChain0 = kWppThreads - 64;
  const int ci = tid - kChain0;
  int idx0 = 0, idx1 = 0;
  if (ci >= 0 && ci < npages) idx0 = p.kv.indices[first + ci];
  if (ci >= 0 && ci + 64 < npages) idx1 = p.kv.indices[first + ci + 64];

  PageCopier copier;
  copier.init(smem + plan.warps + size_t(warp) * plan.warp_bytes + plan.walpha, lane);
  auto issue_keys = [&](int k) {
    if (k < nmine) {
      const PageInfo pg = pinfo[warp + k * kWarps];
      copier.issue(0, kstage, p.kv.arena + pg.byte_offset, tcs[pg.tier].values, lane);
    }
#if !defined(SKV_V7_TMA)
    else cp_async_commit();  // the cp.async groups stay in step with the pages
#endif
  };
  auto issue_values = [&](int k) {
    if (k < nmine) {
      const PageInfo pg = pinfo[warp + k * kWarps];
      const TierConst& c = tcs[pg.tier];
      copier.issue(1, vstage, p.kv.arena + pg.byte_offset + c.values, (c.has_mean ? c.mean : c.copy16 * 16) - c.values,
                   lane);
    }
#if !defined(SKV_V7_TMA)
    else cp_async_commit();
#endif
  };
  if ((tid >> 6) < ntiers && ((tid & 63) < 8 || ((tid & 63) >= 32 && (tid & 63) < 48))) klev[tid] = lvl;
  if (warp < NH) {  // q_plain (padded rows) and q_rot = Pi q: Walsh-Hadamard butterflies in registers
    float r[VPL];
#pragma unroll
    for (int e = 0; e < VPL; ++e) {
      q_plain[qidx(lane * VPL + e) * NH + warp] = qv[e];
      r[e] = qv[e] * float(sg[e]);
    }
    warp_hadamard<VPL>(r, lane);
#pragma unroll
    for (int e = 0; e < VPL; ++e) q_rot[(lane * VPL + e) * NH + warp] = r[e] * rsqrtf(float(D));
  }
  __syncthreads();  // the tier constants, levels, query, mbarriers
  SKV_TRACE_POINT(1);
  if (ci >= 0) {
    SKV_CHAIN_TRACE(8, list0);
    SKV_CHAIN_TRACE(9, idx0);
    for (int i = ci; i < npages; i += 64) {
      const PageInfo pg = p.kv.pages[i < 64 ? idx0 : idx1];
      if (i == ci) SKV_CHAIN_TRACE(10, int(pg.tokens));
#if defined(SKV_V7_TMA)
      if (i < kWarps) {  // warp i's first page: keys only (the first wave: scoring starts sooner)
        const uint32_t wb = static_cast<uint32_t>(__cvta_generic_to_shared(smem + plan.warps + size_t(i) * plan.warp_bytes));
        tma_copy(wb + uint32_t(plan.walpha), wb + uint32_t(plan.stage), p.kv.arena + pg.byte_offset, tcs[pg.tier].values,
                 copier.policy);
      }
#endif
      pinfo[i] = pg;
    }
  }
  if (tid >= 64 && tid < 64 + ntiers) {  // the tier's 16 value levels (klev[t * 64 + 32 ..]) as fp16 byte tables
    const int t = tid - 64;
    const float* lv = klev + t * 64 + 32;
    uint16_t bits[16];
#pragma unroll
    for (int c = 0; c < 16; ++c) bits[c] = __half_as_ushort(__float2half_rn(lv[c]));
    vtab[t] = value_table::make_table(bits);
  }
  for (int t = 0; t < ntiers; ++t) build_key_table<D, NH, kWppThreads>(klev + t * 64, q_rot, tables + tcs[t].pad);
  __syncthreads();
  SKV_TRACE_POINT(2);
#if !defined(SKV_V7_TMA)
  issue_keys(0);  // cp.async groups are per thread: each warp requests its own first page
#endif
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif

  float acc[MT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[i][e] = 0.f;
  float m_run = -INFINITY, l_lane = 0.f;  // head tig; l_lane sums this lane's tokens only
  const int hh = g >> 1;                   // B column g: head g / 2, hi (even g) or lo (odd g) part
  const bool lo_part = g & 1;
  // The page mean (not staged) is loaded one page ahead, so q . m_p never waits on it.
  auto load_mean = [&](int k) {
    MeanWord<D> m{};
    if (k < nmine) {
      const PageInfo pg = pinfo[warp + k * kWarps];
      const TierConst& c = tcs[pg.tier];
      if (c.has_mean) m = load_evict_first(reinterpret_cast<const MeanWord<D>*>(p.kv.arena + pg.byte_offset + c.mean + lane * MPL * 2), copier.policy);
    }
    return m;
  };
  MeanWord<D> mnext = load_mean(0);
  // SYM: every tier symmetric (keys: 4 bit planes; values: the short lookup), as the codecs'
  // codebooks are; the kernel is built without the general paths. (With both paths in one kernel,
  // even with the choice made once outside the loop, the target row took ~46 µs; this build alone,
  // 43-44 µs.) The claim is checked here: a false one poisons the partials below.
  bool all_sym = true;
  for (int t = 0; t < ntiers; ++t)
    all_sym = all_sym && reinterpret_cast<const int*>(tables + tcs[t].pad)[12] == 0 && vtab[t].symmetric;
  for (int k = 0; k < nmine; ++k) {
    const PageInfo pg = pinfo[warp + k * kWarps];
    const TierConst& tc = tcs[pg.tier];
    const MeanWord<D> mraw = mnext;
    mnext = load_mean(k + 1);
    if (kAblate != 2 || k == 0) copier.wait(0);  // this page's keys (scoring needs only them)
    if (k == 0) issue_values(0);  // after the keys' wave: the first scores do not wait behind 8 MB of values
    if constexpr (kAblate == 1) {
      acc[0][0] += float(reinterpret_cast<const uint32_t*>(kstage)[lane] & 255u);
      issue_keys(k + 1);
      copier.wait(1);
      acc[0][1] += float(reinterpret_cast<const uint32_t*>(vstage)[lane] & 255u);
      issue_values(k + 1);
      continue;
    }
    if (k == 0 && warp == 0) SKV_TRACE_POINT(3);
    const int ntok = int(pg.tokens);
    const float* region = tables + tc.pad;
    float x[kTiles][2];
    const auto* krows = reinterpret_cast<const uint32_t*>(kstage + tc.key_codes);
    if constexpr (kAblate == 3) {
      for (int j = 0; j < kTiles; ++j) x[j][0] = x[j][1] = float(krows[lane] & 255u);
    } else if (!SYM && reinterpret_cast<const int*>(region)[12]) {
      score_page<D, true>(krows, region, lane, x);
    } else {
      score_page<D, false>(krows, region, lane, x);
    }
    const float cst = region[tig], inv = region[4 + tig];
    const auto* kscale = reinterpret_cast<const __half*>(kstage + tc.key_scales);
    const float qm = tc.has_mean ? q_dot_mean<D, NH>(mraw, q_plain, lane) : 0.f;
    float s[kTiles][2], mx = -INFINITY;  // base-2 logits of head tig
    // A full page (all but the last of a head) needs no token mask: its own copy of the two
    // token loops, without the compares and selects.
    const bool full = ntok == kMmaPageTokens;
    auto logits = [&](auto full_tag) {
#pragma unroll
      for (int j = 0; j < kTiles; ++j)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int tok = 16 * j + 8 * r + g;
          s[j][r] = decltype(full_tag)::value || tok < ntok
                        ? (__half2float(kscale[tok]) * fmaf(x[j][r], inv, cst) + qm) * p.scale_log2
                        : -INFINITY;
          mx = fmaxf(mx, s[j][r]);
        }
    };
    if (full) logits(std::true_type{});
    else logits(std::false_type{});
    if (kAblate != 2) issue_keys(k + 1);  // (the copier waits for every lane to be done with the keys)
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 8));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 16));
    const float m_new = fmaxf(m_run, mx);  // finite: a page has at least one token
    const float alpha = m_run == -INFINITY ? 0.f : exp2f(m_run - m_new);
    m_run = m_new;
    if (alpha != 1.f) {
      l_lane *= alpha;
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][e] *= alpha;
    }
    if (kAblate != 2 || k == 0) copier.wait(1);  // this page's values (the next page's keys, requested above, may fly)
    const auto* vscale = reinterpret_cast<const __half*>(vstage - tc.values + tc.value_scales);
    float wv[kTiles][2];
    auto weights = [&](auto full_tag) {
#pragma unroll
      for (int j = 0; j < kTiles; ++j)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int tok = 16 * j + 8 * r + g;
          const float pj = exp2f(s[j][r] - m_new);  // 0 where s = -inf (m_new is finite)
          l_lane += pj;
          // (an unused slot's value scale may be anything, NaN included)
          wv[j][r] = decltype(full_tag)::value || tok < ntok ? pj * __half2float(vscale[tok]) : 0.f;
        }
    };
    if (full) weights(std::true_type{});
    else weights(std::false_type{});
    const ValueTable T = vtab[pg.tier];
    const auto* vrows = reinterpret_cast<const uint32_t*>(vstage);
    const int src0 = 8 * tig + hh, src1 = src0 + 4;  // lanes of tokens 2 tig and 2 tig + 1, head hh
    auto values = [&](auto sym) {
#pragma unroll
      for (int j = 0; j < kTiles; ++j) {
        const float w0 = __shfl_sync(0xffffffffu, wv[j][0], src0), w1 = __shfl_sync(0xffffffffu, wv[j][0], src1);
        const float w2 = __shfl_sync(0xffffffffu, wv[j][1], src0), w3 = __shfl_sync(0xffffffffu, wv[j][1], src1);
        const uint32_t b0 = pack_half2(weight_part(w0, lo_part), weight_part(w1, lo_part));
        const uint32_t b1 = pack_half2(weight_part(w2, lo_part), weight_part(w3, lo_part));
        accumulate_tile<D, decltype(sym)::value>(vrows, j, lane, T, b0, b1, acc);
      }
    };
    if constexpr (kAblate == 4) acc[0][0] += wv[0][0] + wv[kTiles - 1][1] + float(vrows[lane] & 255u);
    else if constexpr (SYM) values(std::true_type{});
    else values(std::false_type{});  // the general lookup serves symmetric tables too
    if (kAblate != 2) issue_values(k + 1);
  }
  copier.finish(lane);
  SKV_TRACE_POINT(4);

  // Combine the warps: each lane's head is tig; l is summed over the 8 lanes of a head.
  l_lane += __shfl_xor_sync(0xffffffffu, l_lane, 4);
  l_lane += __shfl_xor_sync(0xffffffffu, l_lane, 8);
  l_lane += __shfl_xor_sync(0xffffffffu, l_lane, 16);
  float* wm = state;  // [kWarps][4]
  if (g == 0) wm[warp * 4 + tig] = m_run;
  __syncthreads();  // every warp's pages are done: the B tables' region becomes the reduction scratch
  SKV_TRACE_POINT(5);
  float M = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wm[w * 4 + tig]);
  const float factor = m_run == -INFINITY ? 0.f : exp2f(m_run - M);
  float* wls = state + 2 * kWarps * 4;  // [kWarps][4]: the warps' l, rescaled to M
  if (g == 0) wls[warp * 4 + tig] = l_lane * factor;
  // [kWarps][4][RS]: the B tables' region (no longer read; never a TMA target), bank-conflict free
  constexpr int RS = mma_reduction_stride(D);
  float* scratch = tables;
  if (tig < NH) {
    float* row = scratch + (warp * 4 + tig) * RS + mma_reduction_col(D, g * (D / 8));
#pragma unroll
    for (int i = 0; i < MT; ++i) {
      row[i] = factor * (acc[i][0] + acc[i][1]);
      row[D / 16 + i] = factor * (acc[i][2] + acc[i][3]);
    }
  }
  __syncthreads();
  SKV_TRACE_POINT(6);
  const size_t row0 = size_t(split) * size_t(p.kv.batch) * p.num_q_heads;
  for (int i = tid; i < NH * D; i += kWppThreads) {
    const int head = i / D, dim = i % D, gq = chunk * NH + head;
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += scratch[(w * 4 + head) * RS + mma_reduction_col(D, dim)];
    if (SYM && !all_sym) sum = NAN;  // a tier marked symmetric is not: the output says so
    if (gq < p.group) p.part_rot[(row0 + size_t(b) * p.num_q_heads + h * p.group + gq) * D + dim] = sum;
  }
  if (tid < NH) {  // lane tid of warp 0: its M is head tid's (tig = tid)
    const int gq = chunk * NH + tid;
    if (gq < p.group) {
      float L = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) L += wls[w * 4 + tid];
      const size_t r = row0 + size_t(b) * p.num_q_heads + h * p.group + gq;
      p.part_m[r] = M;
      p.part_l[r] = L;
      SKV_TRACE_POINT(7);
    }
  }
}

}  // namespace

#if defined(SKV_ADA_TRACE)
void ada_trace_dump(int ctas) {
  std::vector<unsigned long long> h(size_t(64) * size_t(ctas));
  cudaMemcpyFromSymbol(h.data(), skv_trace, sizeof(unsigned long long) * h.size());
  unsigned long long t0 = ~0ull;
  for (int c = 0; c < ctas; ++c) t0 = std::min(t0, h[size_t(c) * 64]);
  for (int i = 0; i < 11; ++i) {
    std::vector<double> v;
    for (int c = 0; c < ctas; ++c) v.push_back(double(h[size_t(c) * 64 + i] - t0) / 1000.0);
    std::sort(v.begin(), v.end());
    std::printf("trace point %d: min %.2f med %.2f max %.2f us\n", i, v.front(), v[v.size() / 2], v.back());
  }
}
#endif

bool mma_tier(const TierLayout& L) {
  return L.key_kind == KeyKind::kCoord && L.key_bits == 3 && L.value_kind == ValueKind::kCoord && L.value_bits == 4 &&
         L.page_tokens == kMmaPageTokens;
}

void launch_decode_mma(int d, int nh, bool sym, const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t stream) {
#define SKV_NH(D_, S_)                                                                                              \
  if (nh == 1) launch_kernel<decode_mma_kernel<D_, 1, S_>, kWppThreads>(prm, grid, smem, stream, "decode_mma_kernel");      \
  else if (nh == 2) launch_kernel<decode_mma_kernel<D_, 2, S_>, kWppThreads>(prm, grid, smem, stream, "decode_mma_kernel"); \
  else launch_kernel<decode_mma_kernel<D_, 4, S_>, kWppThreads>(prm, grid, smem, stream, "decode_mma_kernel");
  if (d == 64) {
    if (sym) { SKV_NH(64, true) } else { SKV_NH(64, false) }
  } else {
    if (sym) { SKV_NH(128, true) } else { SKV_NH(128, false) }
  }
#undef SKV_NH
}

}  // namespace skv::kernels::ada_detail
