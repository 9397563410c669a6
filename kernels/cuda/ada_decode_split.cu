// ADA paged decode, v4 "split" kernel (also the dense fp16 baseline): every warp of a CTA takes
// 1/8 of each page's tokens; pages stream through a 4-stage CTA-wide cp.async pipeline. Used for
// the dense baseline and where the v5 kernel's shared memory does not fit the tier table.
// docs/KERNELS.md has the history; the building blocks are in ada_decode_blocks.cuh.
#include <mutex>

#include "kernels/cuda/ada_decode_blocks.cuh"
#include "kernels/cuda/cuda_check.h"

namespace skv::kernels::ada_detail {
namespace {

// VMODE: 0 = coded values only, 1 = fp16 values only, 2 = both kinds in the table.
// v4 "split" kernel: warp w owns tokens [w*TW, w*TW + TW) of every page (TW = ceil(tokens / 8))
// and keeps its own online-softmax state; the only CTA barrier per page is the stage barrier of
// the cp.async pipeline. Warps are combined once, at the end. Used for the dense baseline and
// when the v5 kernel's shared memory does not fit the tier table.
template <int D, int NH, bool DENSE, int VMODE>
__global__ void __launch_bounds__(kThreads, 2) decode_split_kernel(const DecodeParams p) {
  constexpr int kWarps = kThreads / 32, kMaxTW = kMaxPageTokens / kWarps;
  extern __shared__ __align__(16) unsigned char smem[];
  const SmemPlan& plan = p.plan;
  // The tier table lives in shared memory: indexing a kernel-parameter array by a runtime tier id
  // would make the compiler copy the whole parameter struct to local memory.
  TierTable& tt = *reinterpret_cast<TierTable*>(smem + plan.tiers);
  auto* tcs = reinterpret_cast<TierConst*>(smem + plan.tconst);
  stage_tier_table(p.kv, tt, tcs, [](TierConst&, int) {});
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
  constexpr int kQmPre = 4;
  auto load_mean = [&](int i) -> MeanWord<D> {
    MeanWord<D> raw{};
    if (i < npages) {
      const PageInfo pg = pinfo[i];
      const TierConst& c = tcs[pg.tier];
      if (c.has_mean) raw = *reinterpret_cast<const MeanWord<D>*>(p.kv.arena + pg.byte_offset + c.mean + lane * MPL * 2);
    }
    return raw;
  };
  MeanWord<D> mraw[kQmPre];
#pragma unroll
  for (int j = 0; j < kQmPre; ++j) mraw[j] = load_mean(warp + j * kWarps);

  // Queries of this chunk's heads (heads past the group are zero and never written back), and
  // q' = Pi q unless dense.
  stage_query<D, NH, !DENSE>(p, b, h, chunk, signs, q_plain, q_rot);
  // q . m_p per head for every page of the split, once per CTA (one warp per page); zero for
  // pages without a mean (raw is zero).
  auto qm_page = [&](int i, const MeanWord<D>& raw) {
    if (i >= npages) return;
    const float v = q_dot_mean<D, NH>(raw, q_plain, lane);
    if (lane < 4) qmtab[i * 4 + lane] = v;
  };
#pragma unroll
  for (int j = 0; j < kQmPre; ++j) qm_page(warp + j * kWarps, mraw[j]);
  for (int i = warp + kQmPre * kWarps; i < npages; i += kWarps) qm_page(i, load_mean(i));
  __syncthreads();  // the q.m table is complete

  float acc_rot[VMODE == 1 ? 1 : NH][8];
  float acc_plain[VMODE == 0 ? 1 : NH][8];
  zero_accumulators<NH, VMODE>(acc_rot, acc_plain);
  // Online-softmax state of head (lane % NH), replicated over the lanes of that head.
  float m_run = -INFINITY, l_run = 0.f;

  // The merge kernel is launched as a programmatic dependent: let it be scheduled now (it waits
  // in griddepcontrol.wait for this grid to finish).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // PDL is Hopper+; elsewhere plain stream order
  asm volatile("griddepcontrol.launch_dependents;");
#endif
  int lut_tier = -1;
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
      if (keys_coded(L)) build_lut<NH>(L, klev, q_rot, scratch);
      __syncthreads();
    }

    const int TW = (ntok + kWarps - 1) / kWarps, t0w = warp * TW, t1w = min(ntok, t0w + TW);
    if (t0w >= t1w) continue;  // this warp has no token on this page (its state is unchanged)
    score_tokens<D, NH>(page, tc, !DENSE && tc.coded, scratch, q_plain, t0w, t1w, lane, wraw);
    __syncwarp();
    softmax_tokens<NH>(page, tc, qmtab[i * 4 + lane % NH], p.scale_log2, t0w, t1w, lane, wraw, wwt, m_run, l_run,
                       walpha);
    __syncwarp();
    accumulate_values<D, NH, VMODE>(page, tc, vlev, t0w, t1w, lane, wwt, walpha, acc_rot, acc_plain);
    __syncwarp();  // wraw / wwt / walpha are rewritten on the next page
  }
  cp_async_wait<0>();
  __syncthreads();  // LUT no longer needed: scratch becomes the reduction buffer
  write_partial<D, NH, VMODE>(p, state, scratch, acc_rot, acc_plain, m_run, l_run, b, h, chunk, split);
}

}  // namespace

template <int D, bool DENSE, int VMODE>
void dispatch_nh(int nh, const DecodeParams& prm, dim3 grid, size_t smem, cudaStream_t s) {
  if (nh == 1) launch_kernel<decode_split_kernel<D, 1, DENSE, VMODE>, kThreads>(prm, grid, smem, s, "decode_split_kernel");
  else if (nh == 2) launch_kernel<decode_split_kernel<D, 2, DENSE, VMODE>, kThreads>(prm, grid, smem, s, "decode_split_kernel");
  else launch_kernel<decode_split_kernel<D, 4, DENSE, VMODE>, kThreads>(prm, grid, smem, s, "decode_split_kernel");
}

void launch_decode_split(int d, int nh, bool dense, int vmode, const DecodeParams& prm, dim3 grid, size_t smem,
                         cudaStream_t stream) {
  if (dense) {
    if (d == 64) dispatch_nh<64, true, 1>(nh, prm, grid, smem, stream);
    else dispatch_nh<128, true, 1>(nh, prm, grid, smem, stream);
    return;
  }
#define SKV_VM(D_)                                                         \
  if (vmode == 0) dispatch_nh<D_, false, 0>(nh, prm, grid, smem, stream);      \
  else if (vmode == 1) dispatch_nh<D_, false, 1>(nh, prm, grid, smem, stream); \
  else dispatch_nh<D_, false, 2>(nh, prm, grid, smem, stream);
  if (d == 64) { SKV_VM(64) } else { SKV_VM(128) }
#undef SKV_VM
}

}  // namespace skv::kernels::ada_detail
