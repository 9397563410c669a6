// ADA paged decode attention (SPHERICAL_KV.md 1, "Scoring without dense keys") and the dense
// fp16 paged decode baseline, host side: plan (splits over pages, shared memory), kernel choice,
// the merge kernel, and the public entry points of kernels/ada_attention.h. Flash-decoding shape:
//   grid (splits, batch * Hkv * head_chunks); a CTA owns a contiguous run of one (sequence, kv
//   head)'s pages and NH query heads of its GQA group; partial (m, l, acc) per split go to a
//   workspace; one merge kernel combines the splits and applies Pi^T once per head.
// Kernels: v7 (ada_decode_mma.cu, the default where every tier is the target tier), v5
// warp-per-page (ada_decode_wpp.cu, the default otherwise; v6 with MMA key scoring) and v4 split
// (ada_decode_split.cu, the dense baseline and the fallback). The truth is kernels/cpu/ada_attention_cpu.cpp;
// tests/kernels/ada_gpu_test.cu compares. docs/KERNELS.md records what limits them and what was tried.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "kernels/ada_attention.h"
#include "kernels/decode_plan.h"
#include "kernels/cuda/ada_decode_blocks.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/warp_hadamard.cuh"

namespace skv::kernels {
namespace {
using namespace ada_detail;

// One warp per (sequence, query head) row, 4 rows a CTA: merge the splits (base-2 log-sum-exp),
// apply Pi^T to the rotated-domain part once, add the fp16-value part, write the output. Launched
// as a programmatic dependent of the split kernel (griddepcontrol.wait). Every load a lane makes
// is issued before any of them is used (the row's m, l and the first kChunk splits' partials), so
// the merge waits on memory about once; Pi^T runs in registers and shuffles (no barriers).
// Lane l owns dims l VPL .. l VPL + VPL - 1 (the decode kernels' query rotation layout).
constexpr int kMergeRows = 4;
template <int D>
__global__ void __launch_bounds__(32 * kMergeRows) merge_kernel(const float* part_m, const float* part_l,
                                                                const float* part_rot, const float* part_plain,
                                                                const int8_t* signs, int splits, int rows,
                                                                int num_q_heads, int group, float* out) {
  constexpr int VPL = D / 32, kChunk = 16;
  using Vec = std::conditional_t<VPL == 4, float4, float2>;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  const int lane = threadIdx.x & 31, r = blockIdx.x * kMergeRows + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int qh = r % num_q_heads, h = qh / group;
  auto load = [&](const float* part, int s) {
    return *reinterpret_cast<const Vec*>(part + (size_t(s) * rows + r) * D + lane * VPL);
  };
  auto add = [](float (&o)[VPL], float w, const Vec& x) {
    const float* v = reinterpret_cast<const float*>(&x);
#pragma unroll
    for (int e = 0; e < VPL; ++e) o[e] = fmaf(w, v[e], o[e]);
  };
  float o_rot[VPL] = {}, o_plain[VPL] = {}, Lp = 0.f, M = -INFINITY;
  // Lane s of a 32-split block holds split s's m and l; the partials of the first kChunk splits
  // are requested with them.
  Vec xr[kChunk], xp[kChunk];
#pragma unroll
  for (int k = 0; k < kChunk; ++k) {
    if (k < splits && part_rot) xr[k] = load(part_rot, k);
    if (k < splits && part_plain) xp[k] = load(part_plain, k);
  }
  for (int s = lane; s < splits; s += 32) M = fmaxf(M, part_m[size_t(s) * rows + r]);
#pragma unroll
  for (int o = 16; o; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
  for (int s0 = 0; s0 < splits; s0 += 32) {
    float w = 0.f;
    if (s0 + lane < splits) {
      const size_t at = size_t(s0 + lane) * rows + r;
      const float m = part_m[at];
      if (m != -INFINITY) {  // M is finite here
        w = exp2f(m - M);
        Lp += w * part_l[at];
      }
    }
    const int n = min(32, splits - s0);
    int j = 0;
    if (s0 == 0) {  // the prefetched splits
#pragma unroll
      for (int k = 0; k < kChunk; ++k) {
        const float wk = __shfl_sync(0xffffffffu, w, k);
        if (k < n) {
          if (part_rot) add(o_rot, wk, xr[k]);
          if (part_plain) add(o_plain, wk, xp[k]);
        }
      }
      j = kChunk;
    }
    for (; j < n; j += 8) {
      Vec x[8], y[8];
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        if (j + k < n && part_rot) x[k] = load(part_rot, s0 + j + k);
        if (j + k < n && part_plain) y[k] = load(part_plain, s0 + j + k);
      }
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const float wk = __shfl_sync(0xffffffffu, w, (j + k) & 31);
        if (j + k < n) {
          if (part_rot) add(o_rot, wk, x[k]);
          if (part_plain) add(o_plain, wk, y[k]);
        }
      }
    }
  }
#pragma unroll
  for (int o = 16; o; o >>= 1) Lp += __shfl_xor_sync(0xffffffffu, Lp, o);
  const float inv = Lp > 0.f ? 1.f / Lp : 0.f;
  float res[VPL];
#pragma unroll
  for (int e = 0; e < VPL; ++e) res[e] = o_plain[e] * inv;
  if (part_rot) {  // Pi^T y = signs * H y / sqrt(D): butterflies in the lane, then across lanes
    float y[VPL];
#pragma unroll
    for (int e = 0; e < VPL; ++e) y[e] = o_rot[e] * inv;
    warp_hadamard<VPL>(y, lane);
#pragma unroll
    for (int e = 0; e < VPL; ++e)
      res[e] += y[e] * rsqrtf(float(D)) * float(signs[size_t(h) * D + lane * VPL + e]);
  }
  Vec v;
  float* vo = reinterpret_cast<float*>(&v);
#pragma unroll
  for (int e = 0; e < VPL; ++e) vo[e] = res[e];
  *reinterpret_cast<Vec*>(out + size_t(r) * D + lane * VPL) = v;
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

using Plan = DecodePlan;
Plan make_plan(const PagedKv& kv, int num_q_heads, int max_pages, bool wpp) {
  return decode_plan(kv, num_q_heads, max_pages, wpp, sm_count());
}

// Shared memory of the v5 kernel (mma: v6, whose 3-bit COORD tiers hold a bit-plane B table
// instead of a LUT) for this tier table and head chunk.
// v7 (mma_values): every tier has a B table and value byte tables (in vlev), the warps only their
// page buffers and mbarriers (scores and weights stay in registers), and the end-of-split reduction
// [16 warps][4 heads][d] reuses the B tables' region.
WppPlan wpp_plan(const TierTable& tt, int d, int nh, bool mma, bool mma_values = false) {
  constexpr int kWarps = kWppThreads / 32;
  WppPlan p{};
  size_t lut = 0, kbytes = 16, vbytes = 16;
  int max_tokens = 1;
  for (int t = 0; t < tt.count; ++t) {
    const TierLayout& L = tt.layouts[t];
    max_tokens = std::max(max_tokens, L.page_tokens);
    p.lut_off[t] = int(lut);
    if (keys_coded(L)) {
      const PageOffsets o = page_offsets(L);
      kbytes = std::max(kbytes, o.values);                                  // codes + key scales
      vbytes = std::max(vbytes, (has_page_mean(L) ? o.mean : o.total) - o.values);  // values + scales
      lut += ((mma || mma_values) && bitplane_tier(L)) ? size_t(bitplane::table_bytes(d)) / sizeof(float)
                                       : align16(lut_floats(L, nh) * sizeof(float)) / sizeof(float);
    }
  }
  const size_t red = size_t(kWarps) * (mma_values ? 4 * size_t(mma_reduction_stride(d)) : size_t(nh) * d);  // end-of-split reduction
  const size_t ntiers = size_t(std::max(tt.count, 1));
  size_t at = 0;
#define SKV_TAKE(field, bytes) p.field = at; at += align16(bytes)
  SKV_TAKE(tiers, sizeof(TierTable));
  SKV_TAKE(tconst, sizeof(TierConst) * kMaxTiers);
  SKV_TAKE(pinfo, sizeof(PageInfo) * kMaxPagesPerSplit);
  SKV_TAKE(q_plain, sizeof(float) * qidx(d) * nh);
  SKV_TAKE(q_rot, sizeof(float) * d * nh);
  SKV_TAKE(klev, sizeof(float) * 64 * ntiers);
  SKV_TAKE(vlev, sizeof(float) * 32 * ntiers);
  SKV_TAKE(state, sizeof(float) * 4 * kWarps * 4);
  SKV_TAKE(luts, sizeof(float) * std::max(lut, red));
  p.key_bytes = int(align16(kbytes));
  p.stage_bytes = align16(kbytes) + align16(vbytes);
  size_t w = 0;
  if (!mma_values) {
    p.wraw = w; w += align16(sizeof(float) * size_t(max_tokens) * nh);
    p.wwt = w; w += align16(sizeof(float) * size_t(max_tokens) * nh);
  }
  p.walpha = w; w += 16;  // v7: the warp's two mbarriers (page copies)
  p.stage = w; w += p.stage_bytes;
  p.warp_bytes = w;
  SKV_TAKE(warps, w * kWarps);
#undef SKV_TAKE
  p.total = at;
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

int smem_optin() {
  static const int optin = [] {
    int dev = 0, v = 0;
    SKV_CUDA_CHECK(cudaGetDevice(&dev));
    SKV_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return v;
  }();
  return optin;
}

// Which kernel runs. v7 (both products on the tensor cores) when asked for, or by default when
// every tier is its tier (3-bit COORD keys, 4-bit COORD values, 64-token pages: mma_tier) and its
// shared memory fits, at any page count (4k 32q/8kv B=1 on the H100: v7 20.2 µs, v4 32.8 µs; 4k
// 9q/3kv: 17.0 vs 25.5 µs). v5 runs when asked for, or by default
// when its shared memory fits the tier table and there are enough pages for its one-CTA-per-SM
// grid to cover at least half the SMs with 16 pages (one per warp) each; short contexts at batch 1
// run v4, whose 2 CTAs per SM of 1–2 pages each start faster (4k 32q/8kv B=1: v4 33.5 µs, v5
// 38.4 µs on the H100). The dense baseline always runs v4.
enum class Kernel { kSplit, kWpp, kWppMma, kMmaValues };
Kernel choose_kernel(const PagedKv& kv, int num_q_heads, int max_pages, int variant, bool dense) {
  if (dense || variant == kAdaKernelSplit) return Kernel::kSplit;
  const int group = num_q_heads / std::max(1, kv.num_kv_heads);
  const int nh = group == 1 ? 1 : group == 2 ? 2 : 4;
  bool all_mma = true;
  for (int t = 0; t < kv.tiers.count; ++t) all_mma = all_mma && mma_tier(kv.tiers.layouts[t]);
  const bool fits_v7 = all_mma && wpp_plan(kv.tiers, kv.head_dim, nh, false, true).total <= size_t(smem_optin());
  if (variant == kAdaKernelMmaValues) {
    if (!all_mma)
      throw KernelError("ada decode: the v7 kernel needs every tier to be 3-bit COORD keys + 4-bit COORD values in 64-token pages");
    if (!fits_v7) throw KernelError("ada decode: the v7 kernel needs more shared memory than the device has for these tiers");
    return Kernel::kMmaValues;
  }
  const bool mma = variant == kAdaKernelTensorCore;
  const bool fits = wpp_plan(kv.tiers, kv.head_dim, nh, mma).total <= size_t(smem_optin());
  if (variant == kAdaKernelWarpPerPage || mma) {
    if (!fits)
      throw KernelError("ada decode: the warp-per-page kernel needs more shared memory than the device has for these tiers");
    return mma ? Kernel::kWppMma : Kernel::kWpp;
  }
  if (fits_v7) return Kernel::kMmaValues;
  constexpr int kWarps = kWppThreads / 32;
  const long units = long(kv.batch) * kv.num_kv_heads * ((group + nh - 1) / nh);
  const long full_ctas = units * ((std::max(1, max_pages) + kWarps - 1) / kWarps);
  if (2 * full_ctas < sm_count()) return Kernel::kSplit;
  return fits ? Kernel::kWpp : Kernel::kSplit;
}

void run_decode(const PagedKv& kv, const DecodeArgs& a, bool dense) {
  check_tiers(kv, dense);
  if (!a.q || !a.out) throw KernelError("ada decode: null query or output");
  const Kernel kernel = choose_kernel(kv, a.num_q_heads, a.max_pages_per_head, a.variant, dense);
  const bool wpp = kernel != Kernel::kSplit;
  const Plan plan = make_plan(kv, a.num_q_heads, a.max_pages_per_head, wpp);
  if (!a.workspace || a.workspace_bytes < plan.bytes) throw KernelError("ada decode: workspace too small");
  if (reinterpret_cast<uintptr_t>(a.workspace) % 16 != 0) throw KernelError("ada decode: workspace not 16-byte aligned");
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
  const size_t n = size_t(plan.splits) * plan.rows, n4 = (n + 3) & ~size_t{3};  // see decode_plan
  prm.part_m = ws;
  prm.part_l = ws + n4;
  prm.part_rot = ws + 2 * n4;
  prm.part_plain = ws + 2 * n4 + n * size_t(d);

  const SmemPlan sp = smem_plan(kv.tiers, d, plan.nh);
  prm.plan = sp;
  prm.wpp = wpp_plan(kv.tiers, d, plan.nh, kernel == Kernel::kWppMma, kernel == Kernel::kMmaValues);
  const int optin = smem_optin();
  const size_t smem_bytes = wpp ? prm.wpp.total : sp.total;
  if (smem_bytes > size_t(optin))
    throw KernelError("ada decode: tiers need " + std::to_string(smem_bytes) + " B of shared memory, device has " +
                      std::to_string(optin));
  const dim3 grid(unsigned(plan.splits), unsigned(kv.batch * kv.num_kv_heads * plan.chunks));
  auto stream = static_cast<cudaStream_t>(a.stream);
  if (grid.y > 65535u) throw KernelError("ada decode: batch * kv heads * chunks above 65535");

  bool sym = true;  // every tier marked symmetric: v7's build without the general paths
  for (int t = 0; t < kv.tiers.count; ++t) sym = sym && kv.tiers.codebooks[t].symmetric;
  if (kernel == Kernel::kMmaValues) launch_decode_mma(d, plan.nh, sym, prm, grid, smem_bytes, stream);
  else if (wpp) launch_decode_wpp(d, plan.nh, vmode, kernel == Kernel::kWppMma, prm, grid, smem_bytes, stream);
  else launch_decode_split(d, plan.nh, dense, vmode, prm, grid, smem_bytes, stream);
  const float* rot = vmode == 1 ? nullptr : prm.part_rot;
  const float* plain = vmode == 0 ? nullptr : prm.part_plain;
  const int rows = int(plan.rows);
  // The merge is a programmatic dependent launch: its CTAs are scheduled while the split kernel
  // runs and wait in griddepcontrol.wait, so the launch latency is hidden.
  cudaLaunchConfig_t lc{};
  lc.gridDim = dim3(unsigned((rows + kMergeRows - 1) / kMergeRows));
  lc.blockDim = dim3(unsigned(32 * kMergeRows));
  lc.dynamicSmemBytes = 0;
  lc.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  lc.attrs = attr;
  lc.numAttrs = 1;
  // The merge uses no shared memory; running it with the decode kernels' carveout (max shared)
  // spares the SMs an L1/shared reconfiguration between the two kernels of every call.
  static const bool carveout = [] {
    SKV_CUDA_CHECK(cudaFuncSetAttribute(merge_kernel<64>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                        int(cudaSharedmemCarveoutMaxShared)));
    SKV_CUDA_CHECK(cudaFuncSetAttribute(merge_kernel<128>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                        int(cudaSharedmemCarveoutMaxShared)));
    return true;
  }();
  (void)carveout;
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
  return std::max(make_plan(kv, num_q_heads, max_pages_per_head, false).bytes,
                  make_plan(kv, num_q_heads, max_pages_per_head, true).bytes);
}

void ada_decode_attention(const PagedKv& kv, const DecodeArgs& args) { run_decode(kv, args, false); }

void dense_fp16_decode_attention(const PagedKv& kv, const DecodeArgs& args) { run_decode(kv, args, true); }

}  // namespace skv::kernels
