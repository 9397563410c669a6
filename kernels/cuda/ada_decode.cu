// ADA paged decode attention (SPHERICAL_KV.md 1, "Scoring without dense keys") and the dense
// fp16 paged decode baseline, sharing one flash-decoding skeleton:
//   grid (splits, batch * Hkv * head_chunks); a CTA owns a contiguous run of one (sequence, kv
//   head)'s pages and NH query heads of its GQA group; pages stream through a 4-stage cp.async
//   pipeline into shared memory (a page is one contiguous, 16-byte aligned blob, so one copy
//   loop serves every tier); partial (m, l, acc) per split go to a workspace; one merge kernel
//   combines the splits and applies Pi^T once per head.
// The truth is kernels/cpu/ada_attention_cpu.cpp; tests/kernels/ada_gpu_test.cu compares.
// docs/KERNELS.md records what limits this kernel and what was tried.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>
#include <type_traits>

#include "kernels/ada_attention.h"
#include "kernels/cuda/cuda_check.h"

namespace skv::kernels {
namespace {

constexpr int kThreads = 256;      // 8 warps
constexpr int kStages = 4;         // cp.async pipeline depth (pages in flight per CTA)
constexpr int kMaxPagesPerSplit = 128;  // pinfo + q.m tables (keeps 2 CTAs of ~108 KB per SM)
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
  int wpt, vwpt, nb, upl, E, bv, coded, has_mean, vcoded, pad;
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

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

struct DecodeParams {
  PagedKv kv;
  SmemPlan plan;
  const float* q;
  int num_q_heads, group, chunks, splits, pages_per_split;
  float scale_log2;  // sm_scale * log2(e): softmax in base 2
  float* part_m;     // [splits][B*Hq]
  float* part_l;     // [splits][B*Hq]
  float* part_rot;   // [splits][B*Hq][d]
  float* part_plain; // [splits][B*Hq][d]
};

// VMODE: 0 = coded values only, 1 = fp16 values only, 2 = both kinds in the table.
// Warp w owns tokens [w*TW, w*TW + TW) of every page (TW = ceil(tokens / 8)) and keeps its own
// online-softmax state; the only CTA barrier per page is the stage barrier of the cp.async
// pipeline. Warps are combined once, at the end.
template <int D, int NH, bool DENSE, int VMODE>
__global__ void __launch_bounds__(kThreads, 2) decode_split_kernel(const DecodeParams p) {
  using V = typename Vec<NH>::T;
  constexpr int kWarps = kThreads / 32, kMaxTW = kMaxPageTokens / kWarps;
  extern __shared__ __align__(16) unsigned char smem[];
  const SmemPlan& plan = p.plan;
  // The tier table lives in shared memory: indexing a kernel-parameter array by a runtime tier id
  // would make the compiler copy the whole parameter struct to local memory.
  TierTable& tt = *reinterpret_cast<TierTable*>(smem + plan.tiers);
  if (threadIdx.x == 0) tt = p.kv.tiers;
  auto* tcs = reinterpret_cast<TierConst*>(smem + plan.tconst);
#pragma unroll
  for (int t = 0; t < kMaxTiers; ++t)  // compile-time index into the parameter struct
    if (threadIdx.x == 32 + t && t < p.kv.tiers.count) tcs[t] = tier_const(p.kv.tiers.layouts[t]);
  auto* qmtab = reinterpret_cast<float*>(smem + plan.qm);  // [page of split][4]: q.m_p per head
  auto* pinfo = reinterpret_cast<PageInfo*>(smem + plan.pinfo);
  auto* q_plain = reinterpret_cast<float*>(smem + plan.q_plain);  // [D][NH]
  auto* q_rot = reinterpret_cast<float*>(smem + plan.q_rot);      // [D][NH]
  auto* klev = reinterpret_cast<float*>(smem + plan.klev);
  auto* vlev = reinterpret_cast<float*>(smem + plan.vlev);
  auto* scratch = reinterpret_cast<float*>(smem + plan.scratch);  // LUT, then the final reduction
  unsigned char* stages = smem + plan.stages;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  // Per-warp scratch: raw logits and weights of the warp's tokens, qm / alpha / m / l per head.
  float* wraw = reinterpret_cast<float*>(smem + plan.raw) + warp * kMaxTW * NH;
  float* wwt = reinterpret_cast<float*>(smem + plan.weights) + warp * kMaxTW * NH;
  float* state = reinterpret_cast<float*>(smem + plan.state);  // [4][kWarps][4]
  float* walpha = state + (kWarps + warp) * 4;

  const int Hkv = p.kv.num_kv_heads;
  const int chunk = blockIdx.y % p.chunks, bh = blockIdx.y / p.chunks, b = bh / Hkv, h = bh % Hkv;
  const int split = blockIdx.x;
  const int list0 = p.kv.indptr[bh], list1 = p.kv.indptr[bh + 1];
  const int first = list0 + split * p.pages_per_split;
  const int npages = max(0, min(p.pages_per_split, list1 - first));
  const int8_t* signs = p.kv.signs + size_t(h) * D;

  // Page metadata of this split, once (the dependent index -> info loads would otherwise stall
  // every prefetch by two DRAM round trips).
  for (int i = tid; i < npages; i += kThreads) pinfo[i] = p.kv.pages[p.kv.indices[first + i]];
  __syncthreads();

  auto issue = [&](int i) {
    if (i < npages) {
      const PageInfo pg = pinfo[i];
      const int chunks16 = tcs[pg.tier].copy16;
      const unsigned char* src = p.kv.arena + pg.byte_offset;
      unsigned char* dst = stages + size_t(i % kStages) * plan.stage_bytes;
      for (int c = tid; c < chunks16; c += kThreads) cp_async16(dst + c * 16, src + c * 16);
    }
    cp_async_commit();
  };
  // Pages start streaming before the query rotation and the first LUT are built.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) issue(s);

  // Page means of the warp's first pages (q.m_p below): loads issued before the query's.
  constexpr int MPL = D / 32;  // mean dims per lane
  using MW = typename std::conditional<MPL == 4, uint2, uint32_t>::type;
  constexpr int kQmPre = 4;
  auto load_mean = [&](int i) -> MW {
    MW raw{};
    if (i < npages) {
      const PageInfo pg = pinfo[i];
      const TierConst& c = tcs[pg.tier];
      if (c.has_mean) raw = *reinterpret_cast<const MW*>(p.kv.arena + pg.byte_offset + c.mean + lane * MPL * 2);
    }
    return raw;
  };
  MW mraw[kQmPre];
#pragma unroll
  for (int j = 0; j < kQmPre; ++j) mraw[j] = load_mean(warp + j * kWarps);

  // Queries of this chunk's heads (heads past the group are zero and never written back).
  for (int i = tid; i < D * NH; i += kThreads) {
    const int dim = i / NH, hh = i % NH, g = chunk * NH + hh;
    const float v = g < p.group ? p.q[(size_t(b) * p.num_q_heads + h * p.group + g) * D + dim] : 0.f;
    q_plain[qidx(dim) * NH + hh] = v;
    q_rot[i] = v * float(signs[dim]);
  }
  __syncthreads();
  // q . m_p per head for every page of the split, once per CTA (one warp per page).
  auto qm_page = [&](int i, const MW& raw) {
    if (i >= npages) return;
    float qm[NH];
#pragma unroll
    for (int hh = 0; hh < NH; ++hh) qm[hh] = 0.f;
    const __half* mh = reinterpret_cast<const __half*>(&raw);
#pragma unroll
    for (int e = 0; e < MPL; ++e) {
      const float mv = __half2float(mh[e]);
      const V qv = reinterpret_cast<const V*>(q_plain)[qidx(lane * MPL + e)];
#pragma unroll
      for (int hh = 0; hh < NH; ++hh) qm[hh] += get<NH>(qv, hh) * mv;
    }
#pragma unroll
    for (int hh = 0; hh < NH; ++hh)
#pragma unroll
      for (int o = 16; o; o >>= 1) qm[hh] += __shfl_xor_sync(0xffffffffu, qm[hh], o);
    if (lane < 4) {
      float v = 0.f;
#pragma unroll
      for (int hh = 0; hh < NH; ++hh) v = lane == hh ? qm[hh] : v;
      qmtab[i * 4 + lane] = v;  // zero for pages without a mean (raw is zero)
    }
  };
#pragma unroll
  for (int j = 0; j < kQmPre; ++j) qm_page(warp + j * kWarps, mraw[j]);
  for (int i = warp + kQmPre * kWarps; i < npages; i += kWarps) qm_page(i, load_mean(i));
  if constexpr (!DENSE) {  // q' = Pi q: Walsh-Hadamard butterflies in shared memory
    for (int hstep = 1; hstep < D; hstep *= 2) {
      for (int i = tid; i < (D / 2) * NH; i += kThreads) {
        const int hh = i % NH, pr = i / NH, blk = pr / hstep, off = pr % hstep;
        const int i0 = blk * 2 * hstep + off, i1 = i0 + hstep;
        const float a = q_rot[i0 * NH + hh], c = q_rot[i1 * NH + hh];
        q_rot[i0 * NH + hh] = a + c;
        q_rot[i1 * NH + hh] = a - c;
      }
      __syncthreads();
    }
    for (int i = tid; i < D * NH; i += kThreads) q_rot[i] *= rsqrtf(float(D));
  }

  // Value accumulators: lane owns 8 dims of one token slot; LV lanes cover a token.
  constexpr int LV = D / 8, TPW = 32 / LV;
  const int vk = lane % LV;
  float acc_rot[VMODE == 1 ? 1 : NH][8];
  float acc_plain[VMODE == 0 ? 1 : NH][8];
#pragma unroll
  for (int hh = 0; hh < NH; ++hh)
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if constexpr (VMODE != 1) acc_rot[hh][i] = 0.f;
      if constexpr (VMODE != 0) acc_plain[hh][i] = 0.f;
    }
  // Online-softmax state of head (lane % NH), replicated over the lanes of that head.
  float m_run = -INFINITY, l_run = 0.f;

  // The merge kernel is launched as a programmatic dependent: let it be scheduled now (it waits
  // in griddepcontrol.wait for this grid to finish).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // PDL is Hopper+; elsewhere plain stream order
  asm volatile("griddepcontrol.launch_dependents;");
#endif
  int lut_tier = -1;
  const int kq = lane % kLanesPerKey, gq = lane / kLanesPerKey;  // scoring: lane in token, token in step
  for (int i = 0; i < npages; ++i) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // page i landed for every thread; page i-1 fully consumed (also the LUT)
    issue(i + kStages - 1);
    const PageInfo pg = pinfo[i];
    const TierConst& tc = tcs[pg.tier];
    const unsigned char* page = stages + size_t(i % kStages) * plan.stage_bytes;
    const int ntok = int(pg.tokens);

    if (!DENSE && int(pg.tier) != lut_tier) {  // (re)build this tier's LUT and value levels
      lut_tier = int(pg.tier);
      const TierLayout L = tt.layouts[pg.tier];
      const TierCodebooks cb = tt.codebooks[pg.tier];
      for (int c = tid; c < key_level_count(L); c += kThreads) klev[c] = cb.key_levels[c];
      if (L.value_kind == ValueKind::kCoord)
        for (int c = tid; c < (1 << L.value_bits); c += kThreads) vlev[c] = cb.value_levels[c];
      __syncthreads();
      if (keys_coded(L)) {
        const LutShape s = lut_shape(L);
        const int a = L.key_bits, amask = (1 << a) - 1, bmask = (1 << key_code_bits(L)) - 1;
        V* lut = reinterpret_cast<V*>(scratch);
        for (int e = tid; e < s.U * s.E; e += kThreads) {
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
      __syncthreads();
    }

    const int TW = (ntok + kWarps - 1) / kWarps, t0w = warp * TW, t1w = min(ntok, t0w + TW);
    if (t0w >= t1w) continue;  // this warp has no token on this page (its state is unchanged)

    // ---- scoring: wraw[t][hh] = s_t * sum_units LUT (coded) or q . k (fp16 keys) ----------
    if (!DENSE && tc.coded) {
      const int wpt = tc.wpt, nb = tc.nb, upl = tc.upl, E = tc.E, emask = E - 1;
      const auto* rows = reinterpret_cast<const uint32_t*>(page + tc.key_codes);
      const auto* kscale = reinterpret_cast<const __half*>(page + tc.key_scales);
      const V* lut = reinterpret_cast<const V*>(scratch) + kq;
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
          // Transposed reduction over the 8 lanes of a key: 4 shuffles instead of 12. After it,
          // lane kq holds the full sum of head 2 (kq & 1) + ((kq >> 1) & 1).
          const bool b0 = kq & 1, b1 = kq & 2;
          float s0 = b0 ? acc.z : acc.x, s1 = b0 ? acc.w : acc.y;
          const float o0 = b0 ? acc.x : acc.z, o1 = b0 ? acc.y : acc.w;
          s0 += __shfl_xor_sync(0xffffffffu, o0, 1);
          s1 += __shfl_xor_sync(0xffffffffu, o1, 1);
          float r1 = b1 ? s1 : s0;
          r1 += __shfl_xor_sync(0xffffffffu, b1 ? s0 : s1, 2);
          r1 += __shfl_xor_sync(0xffffffffu, r1, 4);
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
    // ---- online softmax over the warp's tokens: element e = (token e / NH, head e % NH) ----
    {
      const int hh = lane % NH, n_el = (t1w - t0w) * NH;
      const float qm = qmtab[i * 4 + hh];
      float mx = -INFINITY;
      for (int e = lane; e < n_el; e += 32) mx = fmaxf(mx, (wraw[e] + qm) * p.scale_log2);
#pragma unroll
      for (int o = NH; o < 32; o <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float m_new = fmaxf(m_run, mx);
      const bool vcoded = tc.vcoded;
      const auto* vscale = reinterpret_cast<const __half*>(page + tc.value_scales);
      float sum = 0.f;
      for (int e = lane; e < n_el; e += 32) {
        const float pj = exp2f((wraw[e] + qm) * p.scale_log2 - m_new);
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
    __syncwarp();

    // ---- values: acc = alpha * acc + sum_t w_t * v_t (coded: in the rotated domain) -------
    // Skipped when no head's running max moved (alpha == 1 for all heads: the common case).
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
        } else
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
    __syncwarp();  // wraw / wwt / walpha are rewritten on the next page
  }
  cp_async_wait<0>();
  __syncthreads();  // LUT no longer needed: scratch becomes the reduction buffer

  // ---- combine the warps (each has its own m, l), reduce token slots, write the partial -----
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
    for (int i = tid; i < NH * D; i += kThreads) {
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

// One CTA per (sequence, query head): merge the splits (base-2 log-sum-exp), apply Pi^T to the
// rotated-domain part once, add the fp16-value part, write the output. Launched as a programmatic
// dependent of the split kernel (griddepcontrol.wait). The splits are read in parallel: the max
// with one strided pass, the weights exp2(m_s - M) into shared memory, then each thread sums its
// dim over the splits 8 independent loads at a time (no load waits on another).
template <int D>
__global__ void __launch_bounds__(D) merge_kernel(const float* part_m, const float* part_l, const float* part_rot,
                                                  const float* part_plain, const int8_t* signs, int splits,
                                                  int rows, int num_q_heads, int group, float* out) {
  constexpr int W = D / 32, kU = 8;
  __shared__ float y[D];
  __shared__ float wbuf[D];
  __shared__ float red[W];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  const int r = blockIdx.x, dim = threadIdx.x, lane = dim & 31, warp = dim >> 5, qh = r % num_q_heads, h = qh / group;
  float M = -INFINITY;
  for (int s = dim; s < splits; s += D) M = fmaxf(M, part_m[size_t(s) * rows + r]);
#pragma unroll
  for (int o = 16; o; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
  if (lane == 0) red[warp] = M;
  __syncthreads();
  M = red[0];
#pragma unroll
  for (int w = 1; w < W; ++w) M = fmaxf(M, red[w]);
  __syncthreads();  // red is reused below
  float Lp = 0.f, o_rot = 0.f, o_plain = 0.f;
  for (int s0 = 0; s0 < splits; s0 += D) {
    float w = 0.f;
    if (s0 + dim < splits) {
      const size_t at = size_t(s0 + dim) * rows + r;
      const float m = part_m[at];
      if (m != -INFINITY) {  // M is finite here
        w = exp2f(m - M);
        Lp += w * part_l[at];
      }
    }
    wbuf[dim] = w;
    __syncthreads();
    const int n = min(D, splits - s0);
    auto sum_over = [&](const float* part, float& o) {
      int j = 0;
      for (; j + kU <= n; j += kU) {
        float x[kU];
#pragma unroll
        for (int k = 0; k < kU; ++k) x[k] = part[(size_t(s0 + j + k) * rows + r) * D + dim];
#pragma unroll
        for (int k = 0; k < kU; ++k) o += wbuf[j + k] * x[k];
      }
      for (; j < n; ++j) o += wbuf[j] * part[(size_t(s0 + j) * rows + r) * D + dim];
    };
    if (part_rot) sum_over(part_rot, o_rot);
    if (part_plain) sum_over(part_plain, o_plain);
    __syncthreads();
  }
#pragma unroll
  for (int o = 16; o; o >>= 1) Lp += __shfl_xor_sync(0xffffffffu, Lp, o);
  if (lane == 0) red[warp] = Lp;
  __syncthreads();
  float L = 0.f;
#pragma unroll
  for (int w = 0; w < W; ++w) L += red[w];
  const float inv = L > 0.f ? 1.f / L : 0.f;
  y[dim] = o_rot * inv;
  __syncthreads();
  if (part_rot) {  // Pi^T y = signs * H y / sqrt(D)
    for (int hs = 1; hs < D; hs *= 2) {
      float v = 0.f;
      const bool lo = (dim & hs) == 0;
      v = lo ? y[dim] + y[dim + hs] : y[dim - hs] - y[dim];
      __syncthreads();
      y[dim] = v;
      __syncthreads();
    }
  }
  const float rot = part_rot ? y[dim] * rsqrtf(float(D)) * float(signs[size_t(h) * D + dim]) : 0.f;
  out[size_t(r) * D + dim] = rot + o_plain * inv;
}

int sm_count() {
  static int count = [] {
    int dev = 0, n = 0;
    SKV_CUDA_CHECK(cudaGetDevice(&dev));
    SKV_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  return count;
}

struct Plan {
  int nh, chunks, splits, pages_per_split;
  size_t rows, bytes;
};

Plan make_plan(const PagedKv& kv, int num_q_heads, int max_pages) {
  if (kv.num_kv_heads <= 0 || num_q_heads <= 0 || num_q_heads % kv.num_kv_heads != 0)
    throw KernelError("ada decode: num_q_heads must be a positive multiple of num_kv_heads");
  if (kv.head_dim != 64 && kv.head_dim != 128) throw KernelError("ada decode: head_dim must be 64 or 128");
  const int group = num_q_heads / kv.num_kv_heads;
  Plan p{};
  p.nh = group == 1 ? 1 : group == 2 ? 2 : 4;
  p.chunks = (group + p.nh - 1) / p.nh;
  const int units = kv.batch * kv.num_kv_heads * p.chunks;
  // Enough CTAs for ~2 waves of resident CTAs at batch 1, never more than kMaxPagesPerSplit pages a CTA.
  const int target = 2 * sm_count();
  const int mp = std::max(1, max_pages);
  int splits = std::clamp((target + std::max(units, 1) - 1) / std::max(units, 1), 1, mp);
  splits = std::max(splits, (mp + kMaxPagesPerSplit - 1) / kMaxPagesPerSplit);
  p.pages_per_split = (mp + splits - 1) / splits;
  p.splits = (mp + p.pages_per_split - 1) / p.pages_per_split;
  p.rows = size_t(kv.batch) * size_t(num_q_heads);
  p.bytes = size_t(p.splits) * p.rows * (2 + 2 * size_t(kv.head_dim)) * sizeof(float);
  return p;
}

void check_tiers(const PagedKv& kv, bool dense) {
  const TierTable& tt = kv.tiers;
  if (tt.count < 1 || tt.count > kMaxTiers) throw KernelError("ada decode: tier count must be in 1..8");
  for (int t = 0; t < tt.count; ++t) {
    const TierLayout& L = tt.layouts[t];
    if (const char* why = validate_layout(L)) throw KernelError(std::string("ada decode: ") + why);
    if (L.head_dim != kv.head_dim) throw KernelError("ada decode: tier head_dim differs from the cache's");
    if (L.page_tokens > kMaxPageTokens) throw KernelError("ada decode: page_tokens above 128");
    if (dense && (keys_coded(L) || L.value_kind != ValueKind::kFp16))
      throw KernelError("dense fp16 decode: every tier must be FP16 keys + FP16 values");
    if (L.key_kind == KeyKind::kCoord && L.key_bits > 4) throw KernelError("ada decode: CUDA COORD keys need b <= 4");
    if (L.key_kind == KeyKind::kPair && key_code_bits(L) > 6) throw KernelError("ada decode: CUDA PAIR keys need a + p <= 6");
    if (L.value_kind == ValueKind::kCoord && L.value_bits > 5) throw KernelError("ada decode: CUDA COORD values need bv <= 5");
    if (keys_coded(L) && tt.codebooks[t].key_levels == nullptr) throw KernelError("ada decode: missing key levels");
    if (L.value_kind == ValueKind::kCoord && tt.codebooks[t].value_levels == nullptr)
      throw KernelError("ada decode: missing value levels");
  }
}

template <int D, int NH, bool DENSE, int VMODE>
void launch_split(const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t stream) {
  auto* k = &decode_split_kernel<D, NH, DENSE, VMODE>;
  static std::once_flag once;
  std::call_once(once, [&] {
    int dev = 0, optin = 0;
    SKV_CUDA_CHECK(cudaGetDevice(&dev));
    SKV_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    SKV_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
  });
  k<<<grid, kThreads, smem, stream>>>(prm);
  SKV_CUDA_CHECK_LAUNCH("decode_split_kernel");
}

template <int D, bool DENSE, int VMODE>
void dispatch_nh(int nh, const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t s) {
  if (nh == 1) launch_split<D, 1, DENSE, VMODE>(prm, grid, smem, s);
  else if (nh == 2) launch_split<D, 2, DENSE, VMODE>(prm, grid, smem, s);
  else launch_split<D, 4, DENSE, VMODE>(prm, grid, smem, s);
}

void run_decode(const PagedKv& kv, const DecodeArgs& a, bool dense) {
  check_tiers(kv, dense);
  if (!a.q || !a.out) throw KernelError("ada decode: null query or output");
  const Plan plan = make_plan(kv, a.num_q_heads, a.max_pages_per_head);
  if (!a.workspace || a.workspace_bytes < plan.bytes) throw KernelError("ada decode: workspace too small");
  if (kv.batch == 0) return;
  const int d = kv.head_dim;
  bool any_coded_v = false, any_fp16_v = false;
  for (int t = 0; t < kv.tiers.count; ++t)
    (kv.tiers.layouts[t].value_kind == ValueKind::kCoord ? any_coded_v : any_fp16_v) = true;
  const int vmode = dense ? 1 : (any_coded_v && any_fp16_v) ? 2 : any_fp16_v ? 1 : 0;

  DecodeParams prm{};
  prm.kv = kv;
  prm.q = a.q;
  prm.num_q_heads = a.num_q_heads;
  prm.group = a.num_q_heads / kv.num_kv_heads;
  prm.chunks = plan.chunks;
  prm.splits = plan.splits;
  prm.pages_per_split = plan.pages_per_split;
  const float sm = a.sm_scale != 0.f ? a.sm_scale : 1.f / std::sqrt(float(d));
  prm.scale_log2 = sm * 1.4426950408889634f;
  auto* ws = static_cast<float*>(a.workspace);
  const size_t n = size_t(plan.splits) * plan.rows;
  prm.part_m = ws;
  prm.part_l = ws + n;
  prm.part_rot = ws + 2 * n;
  prm.part_plain = ws + 2 * n + n * size_t(d);

  const SmemPlan sp = smem_plan(kv.tiers, d, plan.nh);
  prm.plan = sp;
  static const int optin = [] {
    int dev = 0, v = 0;
    SKV_CUDA_CHECK(cudaGetDevice(&dev));
    SKV_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return v;
  }();
  if (sp.total > size_t(optin))
    throw KernelError("ada decode: tiers need " + std::to_string(sp.total) + " B of shared memory, device has " +
                      std::to_string(optin));
  const dim3 grid(unsigned(plan.splits), unsigned(kv.batch * kv.num_kv_heads * plan.chunks));
  auto stream = static_cast<cudaStream_t>(a.stream);
  if (grid.y > 65535u) throw KernelError("ada decode: batch * kv heads * chunks above 65535");

  if (dense) {
    if (d == 64) dispatch_nh<64, true, 1>(plan.nh, prm, grid, sp.total, stream);
    else dispatch_nh<128, true, 1>(plan.nh, prm, grid, sp.total, stream);
  } else {
#define SKV_VM(D_)                                                              \
  if (vmode == 0) dispatch_nh<D_, false, 0>(plan.nh, prm, grid, sp.total, stream); \
  else if (vmode == 1) dispatch_nh<D_, false, 1>(plan.nh, prm, grid, sp.total, stream); \
  else dispatch_nh<D_, false, 2>(plan.nh, prm, grid, sp.total, stream);
    if (d == 64) { SKV_VM(64) } else { SKV_VM(128) }
#undef SKV_VM
  }
  const float* rot = vmode == 1 ? nullptr : prm.part_rot;
  const float* plain = vmode == 0 ? nullptr : prm.part_plain;
  const int rows = int(plan.rows);
  // The merge is a programmatic dependent launch: its CTAs are scheduled while the split kernel
  // runs and wait in griddepcontrol.wait, so the launch latency is hidden.
  cudaLaunchConfig_t lc{};
  lc.gridDim = dim3(unsigned(rows));
  lc.blockDim = dim3(unsigned(d));
  lc.dynamicSmemBytes = 0;
  lc.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  lc.attrs = attr;
  lc.numAttrs = 1;
  if (d == 64)
    SKV_CUDA_CHECK(cudaLaunchKernelEx(&lc, merge_kernel<64>, prm.part_m, prm.part_l, rot, plain, kv.signs,
                                      plan.splits, rows, a.num_q_heads, prm.group, a.out));
  else
    SKV_CUDA_CHECK(cudaLaunchKernelEx(&lc, merge_kernel<128>, prm.part_m, prm.part_l, rot, plain, kv.signs,
                                      plan.splits, rows, a.num_q_heads, prm.group, a.out));
  SKV_CUDA_CHECK_LAUNCH("merge_kernel");
}

}  // namespace

bool cuda_device_available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
}

size_t ada_decode_workspace_bytes(const PagedKv& kv, int num_q_heads, int max_pages_per_head) {
  return make_plan(kv, num_q_heads, max_pages_per_head).bytes;
}

void ada_decode_attention(const PagedKv& kv, const DecodeArgs& args) { run_decode(kv, args, false); }

void dense_fp16_decode_attention(const PagedKv& kv, const DecodeArgs& args) { run_decode(kv, args, true); }

}  // namespace skv::kernels
