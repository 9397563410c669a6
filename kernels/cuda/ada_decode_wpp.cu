// ADA paged decode, v5 "warp per page" kernel: see the comment on decode_wpp_kernel and
// docs/KERNELS.md; the building blocks are in ada_decode_blocks.cuh.
#include <mutex>

#include "kernels/cuda/ada_decode_blocks.cuh"
#include "kernels/cuda/cuda_check.h"

namespace skv::kernels::ada_detail {
namespace {

// v5 "warp per page" kernel: one CTA of 16 warps per SM and split; warp w owns whole pages
// w, w + 16, ... of the split (no CTA barrier in the page loop), so the per-page fixed costs of v4
// (CTA barrier, softmax reductions and loop setup, paid by 8 warps for 8 tokens each) are paid once
// per page, and 16 warps (4 per scheduler) hide more latency than v4's 2 CTAs of 8. Each warp
// streams its pages through a private buffer with the keys at 0 and the values at key_bytes: the
// next page's keys are requested as soon as the current page is scored, its values once the
// current values are accumulated, so loads overlap compute without a second buffer. Every coded
// tier's LUT is built once, up front. FP16-key pages are read straight from global memory; the
// page mean (q . m_p) is loaded from global memory at the top of the page and used after scoring.
//
// v6 (MMA = true, DecodeArgs::variant = kAdaKernelTensorCore): the same kernel, but 3-bit COORD
// tiers are scored on the integer tensor cores from their code bits (ada_bitplane.h): no LUT, no
// dense keys; their shared-memory region holds the B table (24.6 KB at d = 128) instead of the
// 64 KB LUT. Other tiers are scored as in v5.
template <int D, int NH, int VMODE, bool MMA>
__global__ void __launch_bounds__(kWppThreads, 1) decode_wpp_kernel(const DecodeParams p) {
  constexpr int kWarps = kWppThreads / 32, MPL = D / 32;
  extern __shared__ __align__(16) unsigned char smem[];
  const WppPlan& plan = p.wpp;
  TierTable& tt = *reinterpret_cast<TierTable*>(smem + plan.tiers);
  auto* tcs = reinterpret_cast<TierConst*>(smem + plan.tconst);
  stage_tier_table(p.kv, tt, tcs, [&](TierConst& c, int t) {
    c.pad = plan.lut_off[t];
    c.mma = MMA && bitplane_tier(p.kv.tiers.layouts[t]) ? 1 : 0;
  });
  auto* pinfo = reinterpret_cast<PageInfo*>(smem + plan.pinfo);
  auto* q_plain = reinterpret_cast<float*>(smem + plan.q_plain);
  auto* q_rot = reinterpret_cast<float*>(smem + plan.q_rot);
  auto* klev = reinterpret_cast<float*>(smem + plan.klev);    // [tier][64]
  auto* vlev = reinterpret_cast<float*>(smem + plan.vlev);    // [tier][32]
  auto* luts = reinterpret_cast<float*>(smem + plan.luts);    // every coded tier's LUT, then the reduction
  float* state = reinterpret_cast<float*>(smem + plan.state);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  unsigned char* wbase = smem + plan.warps + size_t(warp) * plan.warp_bytes;
  float* wraw = reinterpret_cast<float*>(wbase + plan.wraw);
  float* wwt = reinterpret_cast<float*>(wbase + plan.wwt);
  float* walpha = reinterpret_cast<float*>(wbase + plan.walpha);
  unsigned char* kstage = wbase + plan.stage;           // key codes + key scales of the page
  unsigned char* vstage = kstage + plan.key_bytes;      // values + value scales

  const int Hkv = p.kv.num_kv_heads;
  const int chunk = blockIdx.y % p.chunks, bh = blockIdx.y / p.chunks, b = bh / Hkv, h = bh % Hkv;
  const int split = blockIdx.x;
  const int list0 = p.kv.indptr[bh], list1 = p.kv.indptr[bh + 1];
  const int first = list0 + split * p.pages_per_split;
  const int npages = max(0, min(p.pages_per_split, list1 - first));
  const int nmine = npages > warp ? (npages - warp + kWarps - 1) / kWarps : 0;  // this warp's pages

  for (int i = tid; i < npages; i += kWppThreads) pinfo[i] = p.kv.pages[p.kv.indices[first + i]];
  __syncthreads();

  // Page k of this warp: keys (codes + scales, bytes [0, values) of the page) and values (values +
  // scales, [values, mean)) are two copies; FP16-key pages are not staged.
  auto issue_keys = [&](int k) {
    if (k < nmine) {
      const PageInfo pg = pinfo[warp + k * kWarps];
      const TierConst& c = tcs[pg.tier];
      if (c.coded) {
        const unsigned char* src = p.kv.arena + pg.byte_offset;
        for (int q = lane; q < c.values / 16; q += 32) cp_async16(kstage + q * 16, src + q * 16);
      }
    }
    cp_async_commit();
  };
  auto issue_values = [&](int k) {
    if (k < nmine) {
      const PageInfo pg = pinfo[warp + k * kWarps];
      const TierConst& c = tcs[pg.tier];
      if (c.coded) {
        const unsigned char* src = p.kv.arena + pg.byte_offset + c.values;
        const int n16 = ((c.has_mean ? c.mean : c.copy16 * 16) - c.values) / 16;
        for (int q = lane; q < n16; q += 32) cp_async16(vstage + q * 16, src + q * 16);
      }
    }
    cp_async_commit();
  };
  issue_keys(0);
  issue_values(0);

  // Levels and LUTs of every tier, built once (pages come in any tier order).
  for (int t = 0; t < tt.count; ++t) {
    const TierLayout& L = tt.layouts[t];
    for (int c = tid; c < key_level_count(L); c += kWppThreads) klev[t * 64 + c] = tt.codebooks[t].key_levels[c];
    if (L.value_kind == ValueKind::kCoord)
      for (int c = tid; c < (1 << L.value_bits); c += kWppThreads) vlev[t * 32 + c] = tt.codebooks[t].value_levels[c];
  }
  stage_query<D, NH, true, kWppThreads>(p, b, h, chunk, p.kv.signs + size_t(h) * D, q_plain, q_rot);
  __syncthreads();
  for (int t = 0; t < tt.count; ++t) {
    if (MMA && tcs[t].mma) build_key_table<D, NH, kWppThreads>(klev + t * 64, q_rot, luts + tcs[t].pad);
    else if (keys_coded(tt.layouts[t])) build_lut<NH, kWppThreads>(tt.layouts[t], klev + t * 64, q_rot, luts + tcs[t].pad);
  }
  __syncthreads();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif

  float acc_rot[VMODE == 1 ? 1 : NH][8];
  float acc_plain[VMODE == 0 ? 1 : NH][8];
  zero_accumulators<NH, VMODE>(acc_rot, acc_plain);
  float m_run = -INFINITY, l_run = 0.f;
  for (int k = 0; k < nmine; ++k) {
    const PageInfo pg = pinfo[warp + k * kWarps];
    const TierConst& tc = tcs[pg.tier];
    const unsigned char* gpage = p.kv.arena + pg.byte_offset;
    MeanWord<D> mraw{};
    if (tc.has_mean) mraw = *reinterpret_cast<const MeanWord<D>*>(gpage + tc.mean + lane * MPL * 2);
    cp_async_wait<0>();
    __syncwarp();  // page k landed for every lane of the warp
    // Page bases such that base + the tier's offsets lands in the warp's buffer (coded tiers).
    const unsigned char* kpage = tc.coded ? kstage : gpage;
    const unsigned char* vpage = tc.coded ? vstage - tc.values : gpage;
    const int ntok = int(pg.tokens);
    if (MMA && tc.mma) {
      const float* region = luts + tc.pad;
      if (reinterpret_cast<const int*>(region)[12]) score_bitplane<D, NH, true>(kpage, tc, region, ntok, lane, wraw);
      else score_bitplane<D, NH, false>(kpage, tc, region, ntok, lane, wraw);
    } else {
      score_tokens<D, NH>(kpage, tc, tc.coded, luts + tc.pad, q_plain, 0, ntok, lane, wraw);
    }
    __syncwarp();  // keys consumed: request the next page's keys
    issue_keys(k + 1);
    const float qm = tc.has_mean ? q_dot_mean<D, NH>(mraw, q_plain, lane) : 0.f;
    softmax_tokens<NH>(vpage, tc, qm, p.scale_log2, 0, ntok, lane, wraw, wwt, m_run, l_run, walpha);
    __syncwarp();
    accumulate_values<D, NH, VMODE>(vpage, tc, vlev + int(pg.tier) * 32, 0, ntok, lane, wwt, walpha, acc_rot,
                                    acc_plain);
    __syncwarp();  // values, wraw, wwt and walpha are rewritten next
    issue_values(k + 1);
  }
  cp_async_wait<0>();
  __syncthreads();  // LUTs no longer needed: their region becomes the reduction buffer
  write_partial<D, NH, VMODE, kWppThreads>(p, state, luts, acc_rot, acc_plain, m_run, l_run, b, h, chunk, split);
}

}  // namespace

template <int D, int VMODE, bool MMA>
void dispatch_wpp(int nh, const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t s) {
  if (nh == 1) launch_kernel<decode_wpp_kernel<D, 1, VMODE, MMA>, kWppThreads>(prm, grid, smem, s, "decode_wpp_kernel");
  else if (nh == 2) launch_kernel<decode_wpp_kernel<D, 2, VMODE, MMA>, kWppThreads>(prm, grid, smem, s, "decode_wpp_kernel");
  else launch_kernel<decode_wpp_kernel<D, 4, VMODE, MMA>, kWppThreads>(prm, grid, smem, s, "decode_wpp_kernel");
}

template <bool MMA>
void launch_wpp(int d, int nh, int vmode, const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t stream) {
#define SKV_VM(D_)                                                          \
  if (vmode == 0) dispatch_wpp<D_, 0, MMA>(nh, prm, grid, smem, stream);      \
  else if (vmode == 1) dispatch_wpp<D_, 1, MMA>(nh, prm, grid, smem, stream); \
  else dispatch_wpp<D_, 2, MMA>(nh, prm, grid, smem, stream);
  if (d == 64) { SKV_VM(64) } else { SKV_VM(128) }
#undef SKV_VM
}

void launch_decode_wpp(int d, int nh, int vmode, bool mma, const DecodeParams& prm, dim3 grid, size_t smem,
                       cudaStream_t stream) {
  if (mma) launch_wpp<true>(d, nh, vmode, prm, grid, smem, stream);
  else launch_wpp<false>(d, nh, vmode, prm, grid, smem, stream);
}

}  // namespace skv::kernels::ada_detail
