// ADA encode: float32 key/value rows -> a tier's page codes (ada_layout.h, "Encoding math").
// One CTA (16 warps) per job; one warp per token: the randomized Hadamard transform runs in
// registers (D/32 elements a lane, butterflies below that stride in-lane, above it by
// __shfl_xor), norms by warp reductions, codes packed into the token's word run with shared
// atomicOr (a code may straddle two words). Truth: kernels/cpu/ada_codec_cpu.cpp.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "kernels/ada_attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/warp_hadamard.cuh"

namespace skv::kernels {
namespace {

// A seal (64 tokens) is a chain of dependent steps per token: 16 warps make it 4 tokens a warp
// (4 warps, 16 a warp, took 68.6 us to seal a page of each of 8 kv heads on the H100).
constexpr int kEncodeWarps = 16;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ int nearest(float u, const float* lev, int n) {
  int best = 0;
  float bd = fabsf(u - lev[0]);
  for (int c = 1; c < n; ++c) {
    const float dd = fabsf(u - lev[c]);
    if (dd < bd) { bd = dd; best = c; }
  }
  return best;
}

// Encodes one row (mean already known) of D floats into words/scale. kind: COORD or PAIR.
template <int D>
__device__ void encode_row(KeyKind kind, int bits, int rbits, const float* lev, const int8_t* signs,
                           const float* src, const float* mean, uint32_t* wbuf, uint32_t* dst_words, int wpt,
                           __half* dst_scale) {
  constexpr int EPL = D / 32;
  const int lane = threadIdx.x & 31;
  float x[EPL];
#pragma unroll
  for (int e = 0; e < EPL; ++e) {
    const int i = lane * EPL + e;
    x[e] = float(signs[i]) * (src[i] - (mean ? mean[i] : 0.f));
  }
  warp_hadamard<EPL>(x, lane);
  float r2 = 0.f;
#pragma unroll
  for (int e = 0; e < EPL; ++e) {
    x[e] *= rsqrtf(float(D));
    r2 += x[e] * x[e];
  }
  const float r = sqrtf(warp_sum(r2));
  uint32_t codes[EPL];
  float n2 = 0.f;
  const float inv_r = r > 0.f ? 1.f / r : 0.f;
  if (kind == KeyKind::kCoord) {
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      const int c = nearest(x[e] * inv_r, lev, 1 << bits);
      codes[e] = uint32_t(c);
      n2 += lev[c] * lev[c];
    }
  } else {
    const int a = bits;
#pragma unroll
    for (int e = 0; e < EPL; e += 2) {
      const float u0 = x[e] * inv_r, u1 = x[e + 1] * inv_r;
      float phi = atan2f(u1, u0);
      if (phi < 0.f) phi += 2.f * 3.14159265358979f;
      int ca = int(floorf(phi * float(1 << a) / (2.f * 3.14159265358979f)));
      ca = min(max(ca, 0), (1 << a) - 1);
      const int cr = nearest(sqrtf(u0 * u0 + u1 * u1), lev, 1 << rbits);
      codes[e] = uint32_t((cr << a) | ca);
      n2 += lev[cr] * lev[cr];  // |rho (cos, sin)|^2
    }
  }
  const float n_hat = sqrtf(warp_sum(n2));
  const bool zero = !(r > 0.f) || !(n_hat > 0.f);
  const int cb = kind == KeyKind::kCoord ? bits : bits + rbits;
  if (lane < wpt) wbuf[lane] = 0u;
  __syncwarp();
  if (!zero) {
#pragma unroll
    for (int e = 0; e < EPL; e += (kind == KeyKind::kCoord ? 1 : 2)) {
      const int g = kind == KeyKind::kCoord ? lane * EPL + e : (lane * EPL + e) / 2;
      const int bit = g * cb, w = bit >> 5, sh = bit & 31;
      atomicOr(&wbuf[w], codes[e] << sh);
      if (sh + cb > 32) atomicOr(&wbuf[w + 1], codes[e] >> (32 - sh));
    }
  }
  __syncwarp();
  if (lane < wpt) dst_words[lane] = wbuf[lane];
  if (lane == 0) *dst_scale = __float2half_rn(zero ? 0.f : r / n_hat);
  __syncwarp();
}

template <int D>
__global__ void __launch_bounds__(kEncodeWarps * 32)
    encode_kernel(const TierTable tiers, const int8_t* signs, const float* keys, const float* values,
                  const EncodeJob* jobs, uint8_t* arena) {
  __shared__ TierTable tt;
  __shared__ float mean[D], klev[256], vlev[256];
  __shared__ uint32_t wbuf[kEncodeWarps][32];
  const int tid = threadIdx.x, warp = tid >> 5;
  if (tid == 0) tt = tiers;
  __syncthreads();
  const EncodeJob job = jobs[blockIdx.x];
  const TierLayout L = tt.layouts[job.tier];
  const TierCodebooks cb = tt.codebooks[job.tier];
  const PageOffsets off = page_offsets(L);
  uint8_t* page = arena + job.page_offset;
  const int8_t* sg = signs + size_t(job.kv_head) * D;
  for (int c = tid; c < key_level_count(L); c += blockDim.x) klev[c] = cb.key_levels[c];
  for (int c = tid; c < value_level_count(L); c += blockDim.x) vlev[c] = cb.value_levels[c];
  if (tid < D) {
    float m = 0.f;
    if (has_page_mean(L)) {
      auto* pm = reinterpret_cast<__half*>(page + off.mean);
      if (job.compute_mean) {
        // float, in token order as before (the CPU codec sums in double; the fp16 mean rarely
        // differs, and the tests allow for it), the loads 8 at a time
        float s = 0.f;
        for (int j0 = 0; j0 < job.count; j0 += 8) {
          float x[8];
#pragma unroll
          for (int u = 0; u < 8; ++u) x[u] = j0 + u < job.count ? keys[size_t(job.src_row + j0 + u) * D + tid] : 0.f;
#pragma unroll
          for (int u = 0; u < 8; ++u)
            if (j0 + u < job.count) s += x[u];
        }
        const __half mh = __float2half_rn(job.count ? s / float(job.count) : 0.f);
        pm[tid] = mh;
        m = __half2float(mh);
      } else {
        m = __half2float(pm[tid]);
      }
    }
    mean[tid] = m;
  }
  __syncthreads();
  const int lane = tid & 31;
  for (int j = warp; j < job.count; j += kEncodeWarps) {
    const int slot = job.first_slot + j;
    const float* k = keys + size_t(job.src_row + j) * D;
    const float* v = values + size_t(job.src_row + j) * D;
    if (keys_coded(L)) {
      const int wpt = key_words_per_token(L);
      encode_row<D>(L.key_kind, L.key_bits, L.key_radius_bits, klev, sg, k, has_page_mean(L) ? mean : nullptr,
                    wbuf[warp], reinterpret_cast<uint32_t*>(page + off.key_codes) + size_t(slot) * wpt, wpt,
                    reinterpret_cast<__half*>(page + off.key_scales) + slot);
    } else {
      auto* dst = reinterpret_cast<__half*>(page + off.key_codes) + size_t(slot) * D;
      for (int i = lane; i < D; i += 32) dst[i] = __float2half_rn(k[i]);
    }
    if (L.value_kind == ValueKind::kCoord) {
      const int wpt = value_words_per_token(L);
      encode_row<D>(KeyKind::kCoord, L.value_bits, 0, vlev, sg, v, nullptr, wbuf[warp],
                    reinterpret_cast<uint32_t*>(page + off.values) + size_t(slot) * wpt, wpt,
                    reinterpret_cast<__half*>(page + off.value_scales) + slot);
    } else {
      auto* dst = reinterpret_cast<__half*>(page + off.values) + size_t(slot) * D;
      for (int i = lane; i < D; i += 32) dst[i] = __float2half_rn(v[i]);
    }
  }
}

}  // namespace

void ada_encode(const TierTable& tiers, const int8_t* signs, int head_dim, const float* keys, const float* values,
                const EncodeJob* jobs, int num_jobs, uint8_t* arena, void* stream) {
  if (tiers.count < 1 || tiers.count > kMaxTiers) throw KernelError("ada encode: tier count must be in 1..8");
  for (int t = 0; t < tiers.count; ++t) {
    const TierLayout& L = tiers.layouts[t];
    if (const char* why = validate_layout(L)) throw KernelError(std::string("ada encode: ") + why);
    if (L.head_dim != head_dim) throw KernelError("ada encode: tier head_dim differs");
  }
  if (num_jobs <= 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  if (head_dim == 64) encode_kernel<64><<<num_jobs, kEncodeWarps * 32, 0, s>>>(tiers, signs, keys, values, jobs, arena);
  else if (head_dim == 128) encode_kernel<128><<<num_jobs, kEncodeWarps * 32, 0, s>>>(tiers, signs, keys, values, jobs, arena);
  else throw KernelError("ada encode: head_dim must be 64 or 128");
  SKV_CUDA_CHECK_LAUNCH("encode_kernel");
}

}  // namespace skv::kernels
